"""Atomic writes: build into a temporary sibling, then rename it onto the target.

Nothing is ever half-written: on any error the temporary file or directory is removed and the
target is untouched. Temporary files and directories are created private by ``tempfile``; they
get the permissions an ordinary ``open``/``mkdir`` would give (``0o666``/``0o777`` less the umask)
before they are renamed into place, so colleagues can read results where the umask allows it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["write_dir_atomic", "atomic_file", "temp_dir", "umask_mode", "replace_dir"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_mode(path: str | Path) -> None:
    """Give ``path`` (a fresh temp file or dir) the mode ``open``/``mkdir`` would have given it."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~_umask())


def temp_dir(out: str | Path) -> Path:
    """A new empty directory next to ``out`` (same file system), mode as ``mkdir`` would give."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask_mode(tmp)
    return tmp


def replace_dir(tmp: Path, out: Path) -> None:
    """Rename the finished ``tmp`` onto ``out``; an old ``out`` is removed only once ``tmp`` is in place."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / "d")
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def write_dir_atomic(out: str | Path, build: Callable[[Path], None], mode: int | None = None) -> Path:
    """Run ``build(tmp_dir)`` and rename the finished directory onto ``out`` (replacing an old one).

    ``mode`` sets the directory's permissions (default: as ``mkdir`` under the current umask).
    """
    out = Path(out)
    tmp = temp_dir(out)
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        build(tmp)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success rename it into place, else remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        umask_mode(tmp)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
