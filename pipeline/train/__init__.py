"""Training of the denoiser: config, data (atom-budget batches), loss, loop, EMA, checkpoints, DDP, stage.

``run_train`` is imported lazily so ``import pipeline.train`` stays cheap; the training path imports
neither RDKit (except to featurize, inside a function) nor MLflow.
"""

from __future__ import annotations

from pipeline.lazy import lazy_exports

__all__ = ["run_train", "TrainConfig"]

__getattr__ = lazy_exports(__name__, {"run_train": "pipeline.train.stage", "TrainConfig": "pipeline.train.config"})
