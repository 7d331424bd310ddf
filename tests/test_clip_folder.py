"""The clip folder: written whole or not at all, validated, read back."""

from __future__ import annotations

import json

import pytest

from pam.data.clip_folder import (
    CONDITIONS,
    ClipFolder,
    ClipFolderError,
    is_complete,
    write_clip_folder,
)
from pam.fileio import atomic_dir


def staged_files(tmp_path, with_video=True):
    stage = tmp_path / f"stage{len(list(tmp_path.glob('stage*')))}"
    stage.mkdir()
    names = [*CONDITIONS.values(), "annotations.npz", "sequence.npz", "sequence.json"] + (["video.mp4"] if with_video else [])
    for name in names:
        (stage / name).write_bytes(b"x" * 8)
    return {name: stage / name for name in names if name != "sequence.json"}


def test_written_folder_validates_and_reads_back(tmp_path):
    clip = write_clip_folder(tmp_path / "clips", "abc123", staged_files(tmp_path), {"source": {"kind": "test"}, "seed": 3},
                             "a hand grasps a mug")
    assert clip == ClipFolder.open(tmp_path / "clips" / "abc123") and clip.clip_id == "abc123"
    assert clip.prompt == "a hand grasps a mug" and clip.meta["seed"] == 3 and clip.meta["format"] == "pam-clip"
    assert clip.condition_path("hand").name == "hand_keypoints.mp4" and (clip.path / "sequence.json").is_file()
    assert clip.first_frame_path is None and is_complete(clip.path)
    assert not list((tmp_path / "clips").glob(".*"))  # no temporary folders left


def test_existing_folder_is_kept_unless_replace(tmp_path):
    write_clip_folder(tmp_path, "c", staged_files(tmp_path), {"source": {"kind": "test"}}, "first")
    with pytest.raises(FileExistsError):
        write_clip_folder(tmp_path, "c", staged_files(tmp_path), {"source": {"kind": "test"}}, "second")
    assert ClipFolder(tmp_path / "c").prompt == "first"
    write_clip_folder(tmp_path, "c", staged_files(tmp_path), {"source": {"kind": "test"}}, "second", replace=True)
    assert ClipFolder(tmp_path / "c").prompt == "second" and not list(tmp_path.glob(".*"))


def test_incomplete_or_foreign_folders_are_named(tmp_path):
    files = staged_files(tmp_path, with_video=False)
    with pytest.raises(ClipFolderError, match="meta\\['source'\\]"):
        write_clip_folder(tmp_path, "c", files, {}, "p")
    clip = write_clip_folder(tmp_path, "c", files, {"source": {"kind": "test"}}, "p")
    with pytest.raises(ClipFolderError, match="missing video.mp4"):
        clip.validate()
    assert clip.validate(require_video=False) is clip and not is_complete(clip.path)
    (clip.path / "meta.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ClipFolderError, match="not a pam clip folder"):
        clip.validate(require_video=False)
    with pytest.raises(ClipFolderError, match="unknown cue"):
        clip.condition_path("tracking")


def test_atomic_dir_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "half.bin").write_bytes(b"1")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(target) as tmp:
        (tmp / "whole.bin").write_bytes(b"1")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and (target / "whole.bin").is_file()
