"""Training checkpoints: model, EMA, optimiser, LR scheduler, RNG states, position (step/epoch/batch).

Written atomically (temp file + rename) as a plain dict of tensors and numbers, loaded with
``torch.load(weights_only=True)``. ``spec`` is stored as JSON text, so a checkpoint file is also a
loadable model (``pipeline.model.io.load_denoiser(path)`` uses its EMA weights).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from pipeline.atomic import umask_mode

__all__ = ["save_checkpoint", "load_checkpoint", "LAST"]

LAST = "last.pt"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask_mode(tmp)  # mkstemp makes it 0600
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location="cpu", weights_only=True)
