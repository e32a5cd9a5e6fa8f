"""pipeline.atomic: a file or directory appears whole or not at all, with the umask's permissions."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from pipeline.atomic import write_dir_atomic, write_file_atomic


def test_text_bytes_and_writer_each_replace_the_old_file(tmp_path):
    p = tmp_path / "out.txt"
    p.write_text("old")
    assert write_file_atomic(p, "näive\n") == p
    assert p.read_text(encoding="utf-8") == "näive\n"
    write_file_atomic(p, b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"
    write_file_atomic(p, lambda tmp: tmp.write_text("from a writer"))
    assert p.read_text() == "from a writer"
    assert [q.name for q in tmp_path.iterdir()] == ["out.txt"]


def test_a_failing_writer_leaves_the_old_file_and_no_temp_file(tmp_path):
    p = tmp_path / "model.pt"
    p.write_text("the old model")

    def half_then_fail(tmp):
        tmp.write_text("half a mod")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_file_atomic(p, half_then_fail)
    assert p.read_text() == "the old model"
    assert [q.name for q in tmp_path.iterdir()] == ["model.pt"]


def test_the_temp_file_keeps_the_suffix_so_numpy_writes_the_target_itself(tmp_path):
    # np.savez appends ".npz" to a name without it: a temp without the suffix would leave the target empty
    p = tmp_path / "arrays.npz"
    write_file_atomic(p, lambda tmp: np.savez(tmp, x=np.arange(3)))
    assert np.load(p)["x"].tolist() == [0, 1, 2]
    assert [q.name for q in tmp_path.iterdir()] == ["arrays.npz"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_permissions_follow_the_umask_for_every_kind_of_content(tmp_path, umask):
    def recreate_private(tmp):  # a writer that replaces the temp file by a private one gets the same rule
        tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"z")
        os.close(fd)

    old = os.umask(umask)
    try:
        write_file_atomic(tmp_path / "a.txt", "x")
        write_file_atomic(tmp_path / "b.bin", b"y")
        write_file_atomic(tmp_path / "c.txt", recreate_private)
        write_dir_atomic(tmp_path / "d", lambda d: (d / "f.txt").write_text("y"))
        write_dir_atomic(tmp_path / "d", lambda d: (d / "g.txt").write_text("z"))  # replacing an old one
    finally:
        os.umask(old)
    for name in ("a.txt", "b.bin", "c.txt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~umask
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["g.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "c.txt", "d"]  # no temp left behind


def test_a_missing_directory_is_a_clear_error_and_nothing_is_made(tmp_path):
    target = tmp_path / "no" / "such" / "out.json"
    with pytest.raises(FileNotFoundError, match=r"does not exist") as err:
        write_file_atomic(target, "{}")
    assert str(tmp_path / "no" / "such") in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_directory_build_leaves_the_old_directory(tmp_path):
    write_dir_atomic(tmp_path / "d", lambda d: (d / "keep.txt").write_text("v1"))

    def fail(d):
        (d / "partial.txt").write_text("half")
        raise ValueError("bad record")

    with pytest.raises(ValueError, match="bad record"):
        write_dir_atomic(tmp_path / "d", fail)
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["d"]
