"""``OUT/index.html``: one static page over the manifest, one row per clip (thumbnail, preview video, status,
scores, seconds per stage, prompt, error), sortable by any column, 100 rows per page.

The page is self-contained (inline CSS and script, nothing fetched from the network) and links the
clips' files by relative path instead of embedding them, so it stays small for thousands of clips and
works when ``OUT`` is copied or served as a folder. Videos load only when played, thumbnails lazily.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from pam.engine.manifest import CLIPS, ClipResult, read_rows

GALLERY = "index.html"

_STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
.smoke{background:#fff3cd;border:1px solid #e0b000;padding:.6em 1em;margin:.8em 0;font-weight:600}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0;user-select:none}th:after{content:" \\2195";color:#aaa}
td.num{text-align:right;font-variant-numeric:tabular-nums}img.thumb{height:72px}video{height:144px}
.done{color:#17692b}.failed{color:#b00020}.filtered{color:#8a6d00}.err{color:#b00020;font-size:12px;max-width:30em}
"""

_SCRIPT = """
const body = document.querySelector('tbody'), pager = document.getElementById('pager'), size = PAGE_SIZE;
let page = 0;
function show() {
  const rows = Array.from(body.rows), pages = Math.max(1, Math.ceil(rows.length / size));
  page = Math.min(page, pages - 1);
  rows.forEach((r, i) => { r.style.display = Math.floor(i / size) === page ? '' : 'none'; });
  pager.innerHTML = pages < 2 ? '' : Array.from({length: pages}, (_, i) =>
    `<button ${i === page ? 'disabled' : ''} onclick="page=${i};show()">${i + 1}</button>`).join(' ');
}
document.querySelectorAll('th').forEach((th, col) => th.addEventListener('click', () => {
  const rows = Array.from(body.rows);
  const dir = th.dataset.dir === 'asc' ? -1 : 1; th.dataset.dir = dir === 1 ? 'asc' : 'desc';
  const key = r => r.cells[col].dataset.sort ?? r.cells[col].textContent;
  rows.sort((a, b) => { const x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
    return dir * (isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny); });
  rows.forEach(r => body.appendChild(r));
  page = 0; show();
}));
show();
"""
#: Rows per page of the gallery.
PAGE_SIZE = 100


def _cell(value, numeric: bool = False) -> str:
    if value is None:
        return '<td class="num" data-sort="-1">–</td>' if numeric else "<td></td>"
    if numeric:
        return f'<td class="num" data-sort="{float(value)}">{float(value):.3g}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def _media(out_root: Path, row: ClipResult) -> str:
    folder = out_root / CLIPS / row.clip_id
    parts = []
    if (folder / "preview.png").is_file():
        parts.append(f'<img class="thumb" loading="lazy" src="{CLIPS}/{row.clip_id}/preview.png" alt="conditions">')
    if (folder / "preview.mp4").is_file():
        parts.append(f'<video controls preload="none" src="{CLIPS}/{row.clip_id}/preview.mp4"></video>')
    if (folder / "video.mp4").is_file():
        parts.append(f'<br><a href="{CLIPS}/{row.clip_id}/video.mp4">video.mp4</a>')
    return "<td>" + "".join(parts) + "</td>"


def render_gallery(out_root: str | os.PathLike, rows: list[ClipResult]) -> str:
    """The gallery page of ``rows`` (file links relative to ``out_root``)."""
    out_root = Path(out_root)
    score_names = sorted({name for row in rows for name in row.scores})
    stage_names = [s for s in ("pose", "conditions", "appearance", "motion") if any(s in r.seconds for r in rows)]
    counts = {s: sum(r.status == s for r in rows) for s in ("done", "filtered", "failed")}
    head = ["clip", "preview", "status", "stage", *score_names, *(f"{s} s" for s in stage_names), "object", "prompt", "error"]
    body = []
    for row in rows:
        cells = [f"<td><code>{html.escape(row.clip_id)}</code></td>", _media(out_root, row),
                 f'<td class="{row.status}">{row.status}</td>', _cell(row.stage)]
        cells += [_cell(row.scores.get(name), numeric=True) for name in score_names]
        cells += [_cell(row.seconds.get(stage), numeric=True) for stage in stage_names]
        cells += [_cell(row.object), _cell(row.prompt), f'<td class="err">{html.escape(row.error or "")}</td>']
        body.append("<tr>" + "".join(cells) + "</tr>")
    smoke = sum(r.smoke for r in rows)
    banner = (f'<div class="smoke">SMOKE RUN: {smoke} of {len(rows)} clips were made with tiny random-weight models '
              "(pam generate --smoke); their images are noise, not data.</div>") if smoke else ""
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>pam generate: "
        f"{html.escape(out_root.name)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(out_root.name)}</h1>{banner}<p>{len(rows)} clips: {summary}. Click a column to sort; {PAGE_SIZE} per page.</p>"
        f"<table><thead><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table><p id='pager'></p>"
        f"<script>{_SCRIPT.replace('PAGE_SIZE', str(PAGE_SIZE))}</script></body></html>"
    )


def write_gallery(out_root: str | os.PathLike) -> Path:
    """Write ``OUT/index.html`` from the manifest (atomically); returns its path."""
    from pam.fileio import atomic_path

    out_root = Path(out_root)
    path = out_root / GALLERY
    with atomic_path(path) as tmp:
        tmp.write_text(render_gallery(out_root, list(read_rows(out_root).values())))
    return path
