"""Training checkpoints: model, EMA, optimiser, LR scheduler, RNG states, position (step/epoch/batch).

Written atomically (temp file + rename) as a plain dict of tensors and numbers, loaded with
``torch.load(weights_only=True)``. ``spec`` is stored as JSON text, so a checkpoint file is also a
loadable model (``pipeline.model.io.load_denoiser(path)`` uses its EMA weights).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pipeline.atomic import write_file_atomic

__all__ = ["save_checkpoint", "load_checkpoint", "LAST"]

LAST = "last.pt"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_file_atomic(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location="cpu", weights_only=True)
