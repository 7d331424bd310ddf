"""A self-contained HTML page of an evaluation: the metrics table and side-by-side frame strips.

Everything is embedded (inline CSS, images as base64 JPEG), so the file can be mailed or
archived on its own. Each video gets a grid of sampled frames, one row per frame and one column
per kind, side by side: generated | reference | conditions (when present).
"""

from __future__ import annotations

import base64
import html
import os

import cv2
import numpy as np

from pam.fileio import atomic_path
from pam.metrics.evaluate import HIGHER_IS_BETTER, EvalResult, table_rows

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#eee}td:first-child,th:first-child{text-align:left}tr.mean td{font-weight:bold;background:#f0f4ff}
.grid{display:grid;gap:6px;justify-content:start}.cap{font-size:13px;color:#444;font-weight:bold}
.skipped{color:#a33}.note{color:#666;font-size:13px}tr.flag td{background:#fff4d6}td.status{text-align:left}
.settings{font-size:13px;color:#444}
img{display:block;border:1px solid #bbb}
"""


def format_value(value: float | None, missing: str = "–") -> str:
    """A metric value for tables: 4 significant digits ("inf" and "nan" as such), ``missing`` for None."""
    return missing if value is None else f"{value:.4g}"


def _jpeg(image: np.ndarray) -> str:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def render_html(result: EvalResult, title: str = "pam eval") -> str:
    """The report page as a string."""
    cols = result.metrics
    arrows = {m: (" &uarr;" if HIGHER_IS_BETTER[m] else " &darr;") for m in cols}
    head = "".join(f"<th>{m.upper()}{arrows[m]}</th>" for m in cols) + "<th>frames</th><th>status</th>"
    rows = []
    for name, row, frames, status in table_rows(result):  # flagged: short clips and videos without a partner
        rows.append(("<tr class='flag'>" if status else "<tr>") + f"<td>{html.escape(name)}</td>"
                    + "".join(f"<td>{format_value(row.get(m), '&ndash;')}</td>" for m in cols)
                    + f"<td>{'&ndash;' if frames is None else frames}</td><td class='status'>{html.escape(status)}</td></tr>")
    rows.append('<tr class="mean"><td>mean</td>' + "".join(f"<td>{format_value(result.summary.get(m), '&ndash;')}</td>" for m in cols)
                + "<td></td><td></td></tr>")
    settings = ", ".join(f"{k}: {v}" for k, v in result.settings.items())
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p class='settings'>{html.escape(settings)}</p>",
             f"<table><tr><th>video</th>{head}</tr>{''.join(rows)}</table>"]
    for metric, reason in result.skipped.items():
        parts.append(f"<p class='skipped'><b>{metric.upper()} skipped:</b> {html.escape(reason)}</p>")
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in result.notes]
    for name, kinds in result.thumbnails.items():
        parts.append(f"<h2>{html.escape(name)}</h2><div class='grid' style='grid-template-columns:repeat({len(kinds)},auto)'>")
        parts += [f"<div class='cap'>{html.escape(kind)}</div>" for kind in kinds]
        for i in range(max(len(f) for f in kinds.values())):
            parts += [f"<img src='{_jpeg(f[i])}' alt='{html.escape(kind)} frame {i}'>" if i < len(f) else "<div></div>"
                      for kind, f in kinds.items()]
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: EvalResult, path: str | os.PathLike, title: str = "pam eval") -> None:
    """Write :func:`render_html` to ``path`` (atomically)."""
    with atomic_path(path) as tmp:
        tmp.write_text(render_html(result, title), encoding="utf-8")
