"""Training of the denoiser: config, data (atom-budget batches), loss, loop, EMA, checkpoints, DDP, stage.

``run_train`` is imported lazily so ``import pipeline.train`` stays cheap; the training path imports
neither RDKit (except to featurize, inside a function) nor MLflow.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_train", "TrainConfig"]


def __getattr__(name: str) -> Any:
    if name == "run_train":
        from pipeline.train.stage import run_train

        return run_train
    if name == "TrainConfig":
        from pipeline.train.config import TrainConfig

        return TrainConfig
    raise AttributeError(f"module 'pipeline.train' has no attribute {name!r}")
