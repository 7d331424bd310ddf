import os
import stat

import pytest

from pam.fileio import atomic_path


def test_atomic_write_renames_on_success_with_normal_permissions(tmp_path):
    with atomic_path(tmp_path / "sub" / "out.txt") as tmp:
        assert tmp.suffix == ".txt" and tmp.parent == tmp_path / "sub"
        tmp.write_text("hello")
        assert not (tmp_path / "sub" / "out.txt").exists()
    assert (tmp_path / "sub" / "out.txt").read_text() == "hello"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "sub" / "out.txt").stat().st_mode) == 0o666 & ~mask


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    (tmp_path / "out.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert (tmp_path / "out.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
