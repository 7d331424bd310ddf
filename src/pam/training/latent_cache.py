"""The latent cache: VAE latents and text embeddings of clips, computed once, shared by every run.

Layout of a cache folder::

    <root>/
      <k[:2]>/<k>.safetensors    one record per key k (tensors + a JSON ``spec`` in the header metadata)
      manifest.jsonl             one line per record written: key, clip id, clip path, spec, bytes
      clip-hashes/               memo of clip content hashes, keyed by path and file sizes / mtimes

A key is the SHA-256 of the record's *spec*: the clip's content hash (the bytes of every file the
record reads), the stage, the encoders' identity hash, the size (H, W and frames), the storage dtype
and :data:`CACHE_VERSION`. Nothing positional enters a key, so any number of processes (any world
size, any run) can fill and read one cache; a changed video, VAE, size or dtype gives a new key, never
a stale hit. Records are written to a temporary file and renamed (two writers of one key write the
same bytes; the last rename wins). A run that stops half-way leaves only whole records: rerunning
skips them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from pam.fileio import atomic_path

CACHE_VERSION = 1
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
MANIFEST = "manifest.jsonl"
HASH_CHUNK = 1 << 20


class CacheError(ValueError):
    """A cache record is missing or unreadable; the message names the clip and the key."""


@dataclass(frozen=True)
class LatentRecord:
    """One clip's cached tensors by name (e.g. ``video``, ``cue.depth``, ``prompt_embeds``)."""

    clip_id: str
    tensors: dict[str, torch.Tensor]


def spec_key(spec: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of a record spec (canonical JSON)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class LatentCache:
    """A content-addressed folder of :class:`LatentRecord` files (see the module docstring)."""

    def __init__(self, root: str | os.PathLike, dtype: str = "bf16"):
        if dtype not in DTYPES:
            raise ValueError(f"cache dtype: one of {', '.join(DTYPES)}, got {dtype!r}")
        self.root = Path(root)
        self.dtype_name = dtype
        self.dtype = DTYPES[dtype]

    # ------------------------------------------------------------------------------------------- keys
    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.safetensors"

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def clip_hash(self, clip_dir: Path, files: Iterable[str]) -> str:
        """Content hash of ``files`` inside ``clip_dir`` (names and bytes), memoised by size and mtime."""
        clip_dir = Path(clip_dir).resolve()
        names = sorted(files)
        stats = {}
        for name in names:
            try:
                st = (clip_dir / name).stat()
            except FileNotFoundError:
                raise CacheError(f"{clip_dir}: no {name} (the cache reads {', '.join(names)})") from None
            stats[name] = [st.st_size, st.st_mtime_ns]
        memo = self.root / "clip-hashes" / f"{hashlib.sha256(str(clip_dir).encode()).hexdigest()[:32]}.json"
        try:
            saved = json.loads(memo.read_text())
            if saved.get("stats") == stats:
                return saved["hash"]
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        digest = spec_key({name: file_digest(clip_dir / name) for name in names})
        memo.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(memo) as tmp:
            tmp.write_text(json.dumps({"path": str(clip_dir), "stats": stats, "hash": digest}))
        return digest

    # ------------------------------------------------------------------------------------------- I/O
    def save(self, key: str, record: LatentRecord, spec: Mapping[str, Any], clip_path: str = "") -> int:
        """Write ``record`` under ``key`` (tensors cast to the cache dtype, floats only); returns its bytes."""
        from safetensors.torch import save_file

        tensors = {
            name: (t.detach().to("cpu", self.dtype) if t.is_floating_point() else t.detach().cpu()).contiguous()
            for name, t in record.tensors.items()
        }
        metadata = {"clip_id": record.clip_id, "spec": json.dumps(spec, sort_keys=True)}
        path = self.path(key)
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
        size = path.stat().st_size
        line = json.dumps({"key": key, "clip_id": record.clip_id, "clip_path": clip_path, "bytes": size, "spec": spec})
        # One short O_APPEND write per record: lines from concurrent writers do not interleave.
        fd = os.open(self.root / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        return size

    def load(self, key: str, clip_id: str = "") -> LatentRecord:
        """The record stored under ``key``; CacheError naming the clip when it is absent or unreadable."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self.path(key)
        if not path.is_file():
            raise CacheError(f"clip {clip_id or '?'}: not in the cache {self.root} (key {key}); run `pam train cache`")
        try:
            return LatentRecord(clip_id, load_file(str(path)))
        except (SafetensorError, OSError) as exc:
            raise CacheError(f"{path}: unreadable cache record of clip {clip_id or '?'} ({exc}); delete it") from exc

    def manifest(self) -> dict[str, dict]:
        """Manifest rows by key (the last line of a key wins; lines of deleted records are dropped)."""
        rows: dict[str, dict] = {}
        try:
            text = (self.root / MANIFEST).read_text()
        except FileNotFoundError:
            return rows
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
            if self.has(row.get("key", "")):
                rows[row["key"]] = row
        return rows


def _shard_of(clip_id: str, world: int) -> int:
    """The process (of ``world``) that encodes ``clip_id``: by a hash of the id, not its position."""
    return int(hashlib.sha256(clip_id.encode()).hexdigest()[:8], 16) % world


def record_key(stage, cache: LatentCache, clip) -> str:
    """The cache key of ``clip``'s record for ``stage`` (see the module docstring)."""
    return spec_key({**stage.spec(), "clip": cache.clip_hash(clip.path, stage.cache_files)})


def extra_key(stage, name: str) -> str:
    """The key of a stage-wide record (``null_cue``, ``negative_prompt``)."""
    return spec_key({**stage.spec(), "extra": name})


@dataclass
class FillReport:
    written: int = 0
    skipped: int = 0
    bytes: int = 0


def fill_cache(stage, cache: LatentCache, clips: list, device: str | torch.device = "cpu", rank: int = 0,
               world: int = 1, progress=None) -> FillReport:
    """Encode the clips of shard ``rank`` of ``world`` that the cache lacks (and, on rank 0, the stage-wide
    records). The encoders are moved to ``device`` only when something is missing. ``progress(done, total)``."""
    report = FillReport()
    mine = [clip for clip in clips if _shard_of(clip.clip_id, world) == rank]
    todo = []
    for clip in mine:
        key = record_key(stage, cache, clip)
        if cache.has(key):
            report.skipped += 1
        else:
            todo.append((clip, key))
    extras = [name for name in stage.extra_names if rank == 0 and not cache.has(extra_key(stage, name))]
    if not todo and not extras:
        return report
    for name in stage.encoder_parts:
        part = stage.part(name)
        if isinstance(part, torch.nn.Module):
            part.to(device)
    spec = stage.spec()
    if extras:
        for name, tensors in stage.extras().items():
            if name in extras:
                report.bytes += cache.save(extra_key(stage, name), LatentRecord(name, tensors), {**spec, "extra": name})
    for done, (clip, key) in enumerate(todo):
        record = LatentRecord(clip.clip_id, stage.encode(clip))
        report.bytes += cache.save(key, record, {**spec, "clip_id": clip.clip_id}, str(clip.path))
        report.written += 1
        if progress is not None:
            progress(done + 1, len(todo))
    return report


def load_extras(stage, cache: LatentCache) -> dict[str, dict[str, torch.Tensor]]:
    """The stage-wide records, by name."""
    return {name: cache.load(extra_key(stage, name), name).tensors for name in stage.extra_names}
