"""Checkpoints: ``OUTPUT_DIR/checkpoint-<step>/``, written whole or not at all.

A checkpoint holds accelerate's full state (the ControlNet weights, optimiser, RNG states of every
process, and the registered objects: :class:`~pam.training.data.TrainState`, the LR scheduler, the EMA),
``controlnet/`` (``save_pretrained``, safetensors; loads straight into the pipelines),
``controlnet_ema/`` when EMA is on, and ``train_state.json`` (step, epoch, cursor, world size; for
people and for weights-only resume). It is written into a temporary folder beside the target and
renamed when every process has finished; older checkpoints are pruned only after that.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path

PREFIX = "checkpoint-"
STATE_FILE = "train_state.json"
_NAME = re.compile(rf"^{PREFIX}(\d+)$")


def list_checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, oldest first, as (step, path)."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = []
    for path in output_dir.iterdir():
        match = _NAME.match(path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def resolve_resume(output_dir: str | Path, resume: str) -> Path | None:
    """``latest`` -> the newest checkpoint of ``output_dir`` (None if there is none); else the given folder.

    Raises:
        FileNotFoundError: a given folder that is not a complete checkpoint.
    """
    if resume == "latest":
        found = list_checkpoints(output_dir)
        return found[-1][1] if found else None
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"--resume {resume}: not a complete checkpoint folder (no {STATE_FILE})")
    return path


def read_state(path: str | Path) -> dict:
    """The ``train_state.json`` of a checkpoint."""
    return json.loads((Path(path) / STATE_FILE).read_text())


def save_checkpoint(accelerator, output_dir: Path, step: int, model, ema, state: dict) -> Path:
    """Write ``checkpoint-<step>`` from every process (call on all of them); returns its path.

    ``model`` is the prepared (wrapped) :class:`~pam.training.stages.StageModule`; ``state`` goes to
    ``train_state.json``.
    """
    from accelerate.utils import broadcast_object_list

    from pam.fileio import atomic_dir

    target = Path(output_dir) / f"{PREFIX}{step}"
    with contextlib.ExitStack() as stack:
        tmp = [None]
        if accelerator.is_main_process:
            tmp = [str(stack.enter_context(atomic_dir(target, replace=True)))]
        tmp = Path(broadcast_object_list(tmp)[0])
        accelerator.save_state(str(tmp))
        weights = accelerator.get_state_dict(model)  # gathers FSDP shards; a collective call
        if accelerator.is_main_process:
            prefix = "controlnet."
            accelerator.unwrap_model(model).controlnet.save_pretrained(
                tmp / "controlnet", state_dict={k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
            )
            if ema is not None:
                ema.save_pretrained(str(tmp / "controlnet_ema"))
            (tmp / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
        accelerator.wait_for_everyone()  # every process has written its part before the rename
    accelerator.wait_for_everyone()
    return target


def prune(output_dir: str | Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` checkpoints; returns what was removed."""
    found = list_checkpoints(output_dir)
    removed = [path for _, path in found[: max(0, len(found) - keep)]]
    for path in removed:
        shutil.rmtree(path)
    return removed
