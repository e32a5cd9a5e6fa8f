"""Atomic writes: build into a temporary sibling, then rename it onto the target.

Nothing is ever half-written: on any error the temporary file or directory is removed and the
target is untouched. One rule for permissions: whatever is renamed into place gets the mode an
ordinary ``open``/``mkdir`` would have given it (``0o666``/``0o777`` less the umask), although
``tempfile`` creates it private; so colleagues can read results where the umask allows it.

* :func:`write_file_atomic` — one file: bytes, text, or a writer callback given the temp path
  (``np.savez``, ``torch.save``, ``fig.savefig``, ``Chem.SDWriter``...). The temp file keeps the
  target's suffix, so writers that pick a format from it (or append ``.npz``) behave.
* :func:`write_dir_atomic` — one directory, built by a callback into a fresh temp directory.

A file's directory must exist (a missing one is a clear ``FileNotFoundError``: making output
folders is the caller's decision, not a side effect of writing a file); a directory's parents are
made, since the directory itself is the product.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["write_file_atomic", "write_dir_atomic", "umask_mode"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_mode(path: str | Path) -> None:
    """Give ``path`` (a fresh temp file or dir) the mode ``open``/``mkdir`` would have given it."""
    base = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, base & ~_umask())


def write_file_atomic(path: str | Path, content: bytes | str | Callable[[Path], object], *, encoding: str = "utf-8") -> Path:
    """Write ``content`` to ``path`` via a temp file in the same directory and a rename.

    ``content`` is bytes, text (``encoding``), or a callable that writes the temp path it is given.
    On any error (the writer's included) the temp file is removed and an old ``path`` is untouched.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {path.parent} does not exist")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        elif isinstance(content, str):
            tmp.write_text(content, encoding=encoding)
        else:
            content(tmp)
        umask_mode(tmp)  # after the writer: one that recreated the file still gets the rule
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path


def _temp_dir(out: Path) -> Path:
    """A new empty directory next to ``out`` (same file system), mode as ``mkdir`` would give."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask_mode(tmp)
    return tmp


def _replace_dir(tmp: Path, out: Path) -> None:
    """Rename the finished ``tmp`` onto ``out``; an old ``out`` is removed only once ``tmp`` is in place."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / "d")
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def write_dir_atomic(out: str | Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp_dir)`` and rename the finished directory onto ``out`` (replacing an old one).

    ``out``'s parent directories are made as needed; ``out`` gets the mode ``mkdir`` would give.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_dir(out)
    try:
        build(tmp)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
