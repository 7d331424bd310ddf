"""Clip lists -> batches of cached records, in an order that a cursor can resume.

The order of an epoch is a permutation seeded by (seed, epoch). A global micro-batch is the next
``batch_size * processes`` entries of it; process r takes its r-th slice. ``TrainState.cursor`` counts
samples of the epoch already consumed (globally), so a resumed run continues with the same samples,
and the split does not depend on how many processes draw them. An epoch's remainder that does not
fill a global micro-batch is skipped (it is different each epoch).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch

from pam.training.latent_cache import LatentCache


def find_clips(roots: Sequence[str | os.PathLike]) -> list:
    """Clip folders in ``roots`` (each a clip folder or a folder of them), sorted by id; validated.

    Raises:
        ValueError naming a root that holds no clip folder or an incomplete one.
    """
    from pam.data.clip_folder import META, ClipFolder

    clips = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder of clips")
        found = [root] if (root / META).is_file() else sorted(p for p in root.iterdir() if (p / META).is_file())
        if not found:
            raise ValueError(f"{root}: holds no clip folder (no */meta.json)")
        clips.extend(ClipFolder.open(path) for path in found)
    counts = Counter(clip.clip_id for clip in clips)
    duplicates = sorted(i for i, n in counts.items() if n > 1)
    if duplicates:
        raise ValueError(f"clip ids appear more than once: {duplicates[:5]}")
    return sorted(clips, key=lambda clip: clip.clip_id)


@dataclass
class TrainState:
    """Where a run stands; saved in every checkpoint (``accelerator.register_for_checkpointing``)."""

    step: int = 0  # optimiser steps taken
    epoch: int = 0
    cursor: int = 0  # samples of this epoch consumed, over all processes
    samples_seen: int = 0

    def state_dict(self) -> dict:
        return {"step": self.step, "epoch": self.epoch, "cursor": self.cursor, "samples_seen": self.samples_seen}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, int(value))

    def advance(self, global_batch: int, batches_per_epoch: int) -> None:
        """Count one consumed global micro-batch; roll over to the next epoch at its end."""
        self.cursor += global_batch
        self.samples_seen += global_batch
        if self.cursor >= batches_per_epoch * global_batch:
            self.epoch, self.cursor = self.epoch + 1, 0


def epoch_order(num_samples: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of epoch ``epoch`` (independent of processes and of earlier epochs)."""
    return torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


class ResumableBatches(torch.utils.data.Sampler[list[int]]):
    """Batch indices of one process for one epoch, from sample ``start`` of the epoch onwards."""

    def __init__(self, num_samples: int, batch_size: int, rank: int, world: int, seed: int, epoch: int, start: int):
        self.order = epoch_order(num_samples, seed, epoch)
        self.batch_size, self.rank, self.global_batch = batch_size, rank, batch_size * world
        self.start = start
        if start % self.global_batch:
            raise ValueError(f"cursor {start} is not a multiple of the global batch {self.global_batch}")

    def __iter__(self) -> Iterator[list[int]]:
        last = len(self.order) - self.global_batch
        for offset in range(self.start, last + 1, self.global_batch):
            first = offset + self.rank * self.batch_size
            yield self.order[first : first + self.batch_size].tolist()

    def __len__(self) -> int:
        return max(0, (len(self.order) - self.start) // self.global_batch)


class LatentDataset(torch.utils.data.Dataset):
    """Cached records of a clip list: item i is ``{name: tensor}`` of clip i."""

    def __init__(self, cache: LatentCache, keys: Sequence[str], clip_ids: Sequence[str]):
        self.cache, self.keys, self.clip_ids = cache, list(keys), list(clip_ids)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.cache.load(self.keys[index], self.clip_ids[index]).tensors


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack records on a new batch dimension (every record of a run has the same names and shapes)."""
    names = items[0].keys()
    return {name: torch.stack([item[name] for item in items]) for name in names}


def make_loader(
    dataset: LatentDataset, batch_size: int, rank: int, world: int, seed: int, epoch: int, start: int, num_workers: int
) -> torch.utils.data.DataLoader:
    """A DataLoader over one epoch from ``start``; workers only read safetensors files (no GPU work)."""
    sampler = ResumableBatches(len(dataset), batch_size, rank, world, seed, epoch, start)
    return torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers, pin_memory=torch.cuda.is_available(),
        prefetch_factor=4 if num_workers else None, persistent_workers=False,
    )
