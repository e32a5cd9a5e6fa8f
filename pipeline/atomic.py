"""Atomic directory writes: build into a temporary sibling, then rename it onto the target."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["write_dir_atomic"]


def write_dir_atomic(out: str | Path, build: Callable[[Path], None], mode: int | None = None) -> Path:
    """Run ``build(tmp_dir)`` and rename the finished directory onto ``out`` (replacing an old one).

    Nothing is ever half-written: on any error the temporary directory is removed and ``out`` is
    untouched. ``mode`` sets the directory's permissions (``mkdtemp`` makes it private).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        build(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
