"""The train stage: ``run_train(cfg, dataset_dir, prior_dir, out_dir, logger, resume=False) -> StageResult``.

Output directory::

    out_dir/checkpoints/last.pt     full training state (every ``checkpoint_every`` steps and at the end)
    out_dir/model/                  the final EMA model (spec.json + weights.pt) -> sample / register
    out_dir/train_summary.json      final metrics, steps, skipped molecules
    out_dir/metrics.csv             every logged metric (step,key,value), also without MLflow
    out_dir/training_curves.png     loss / lr / grad-norm / EMA-sample curves from metrics.csv
    out_dir/inputs.json             where the dataset and prior were on this machine (for packaging;
                                    the model's spec.json names them by name and content hash only)
    out_dir/cache/records-<key>.npz featurized molecules (content-keyed; lets a box without RDKit train)

Runs the same way alone or under ``torchrun`` (DDP; only rank 0 logs and writes). Never imports
MLflow: metrics go to the ``logger`` it is given.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from pipeline.atomic import write_file_atomic
from pipeline.model.provenance import INPUTS_FILE, training_inputs
from pipeline.train.config import TrainConfig
from pipeline.types import InputDataset, MetricLogger, NullLogger, StageError, StageResult

__all__ = ["run_train", "build_spec"]

log = logging.getLogger(__name__)


def build_spec(cfg: TrainConfig, prior_params, max_atoms: int, info: dict | None = None):
    from pipeline.model.spec import ModelSpec

    return ModelSpec(
        size=cfg.model.size if cfg.model.size in ("tiny", "base") else "custom",
        net=cfg.model.net,
        features=cfg.model.features,
        prior=prior_params,
        schedule=cfg.model.schedule,
        sigma_data=cfg.model.sigma_data,
        max_atoms=max_atoms,
        info=info or {},
    )


def _write_json(path: Path, data: dict) -> None:
    write_file_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def run_train(
    cfg: TrainConfig,
    dataset_dir: Path,
    prior_dir: Path,
    out_dir: Path,
    logger: MetricLogger | None = None,
    resume: bool = False,
) -> StageResult:
    """Train the denoiser on ``dataset_dir`` (train split) with the prior of ``prior_dir``."""
    from pipeline.model.io import save_model
    from pipeline.model.precond import build_denoiser
    from pipeline.prior.params import load_prior_params
    from pipeline.sanity import open_dataset
    from pipeline.train.checkpoint import LAST, load_checkpoint
    from pipeline.train.cache import cached_records
    from pipeline.train.ddp import barrier, cleanup, init_distributed, select_device
    from pipeline.train.history import CURVES_FILE, HISTORY_FILE, HistoryLogger, plot_history
    from pipeline.train.init import initial_weights
    from pipeline.train.loop import Trainer

    logger = logger or NullLogger()
    dataset_dir, prior_dir, out_dir = Path(dataset_dir), Path(prior_dir), Path(out_dir)
    info = init_distributed(cfg.device)
    history = HistoryLogger(out_dir / HISTORY_FILE, logger) if info.is_main else None
    logger = history or logger
    threads = torch.get_num_threads()
    try:
        device = select_device(cfg.device, info.local_rank)
        if cfg.cpu_threads and device.type == "cpu":
            torch.set_num_threads(cfg.cpu_threads)
        torch.manual_seed(cfg.seed)
        params = load_prior_params(prior_dir)
        init_spec, init_state = initial_weights(cfg.init_from) if cfg.init_from else (None, None)
        if init_spec is not None:  # fine-tuning keeps the noise the model was trained with
            params = init_spec.prior
        ds = open_dataset(dataset_dir, "train")  # unreadable or impossible data: one StageError line
        train_idx = ds.split_indices(cfg.train_split)
        if not train_idx:
            raise StageError(f"{dataset_dir}: split {cfg.train_split!r} has no molecules")
        val_idx = ds.split_indices(cfg.val_split)
        cache_dir = out_dir / "cache" if cfg.feature_cache else None
        # the features the network reads (a fine-tuned model keeps its own; pairnet switches on the DG bounds)
        features = init_spec.features if init_spec is not None else build_spec(cfg, params, cfg.max_atoms).features
        train_records, errors = cached_records(ds, train_idx, features, params, cfg.max_atoms, cache_dir)
        val_records, val_errors = cached_records(ds, val_idx, features, params, cfg.max_atoms, cache_dir)
        errors += val_errors
        if not train_records:
            raise StageError(f"{dataset_dir}: none of the {len(train_idx)} training molecules is usable ({errors[0]})")
        val_source = cfg.val_split
        if not val_records:  # evaluation still needs molecules: use training ones, and say so
            val_records, val_source = train_records, f"{cfg.train_split} (no {cfg.val_split!r} molecules)"
        # the model accepts what the config admitted for training; the largest molecule it saw is recorded
        max_seen = max(r.n_atoms for r in train_records)
        # names and content hashes only: the spec travels with the model (pipeline/model/provenance.py)
        spec_info = {**training_inputs(dataset_dir, prior_dir), "dataset_hash": ds.digest, "max_train_atoms": max_seen}
        if init_spec is not None:
            spec = init_spec.model_copy(update={"max_atoms": cfg.max_atoms, "info": {**spec_info, "init_from": cfg.init_from}})
        else:
            spec = build_spec(cfg, params, cfg.max_atoms, spec_info)
        model = build_denoiser(spec)
        if init_state is not None and not resume:
            model.load_state_dict(init_state)
        model = model.to(device)
        ckpt_dir = out_dir / "checkpoints"
        spec_json = json.dumps(spec.model_dump(mode="json"))
        trainer = Trainer(
            model, cfg, train_records, val_records, device, info, logger, ckpt_dir,
            extra_state=lambda: {"spec": spec_json, "config": cfg.model_dump_json()},
        )
        start_step = 0
        if resume:
            state = load_checkpoint(ckpt_dir / LAST)
            old = json.loads(state["spec"])
            old.pop("info", None)
            new = json.loads(spec_json)
            new.pop("info", None)
            if old != new:
                raise StageError(f"--resume: the checkpoint's model spec differs from this config ({ckpt_dir / LAST})")
            trainer.load_state_dict(state)
            start_step = trainer.step
            log.info("resumed from %s at step %d", ckpt_dir / LAST, start_step)
        if history is not None:
            history.begin(start_step if resume else None)
        metrics = trainer.fit()
        model_dir = out_dir / "model"
        spec.info.update({"steps": trainer.step, "ema_decay": cfg.optim.ema_decay})
        if info.is_main:
            save_model(model_dir, trainer.ema.model, spec)
            summary = {
                "steps": trainer.step,
                "resumed_from": start_step if resume else None,
                "epochs": trainer.epoch,
                "train_molecules": len(train_records),
                "val_molecules": len(val_records),
                "val_source": val_source,
                "world_size": info.world,
                "cpu_hours": trainer.cpu_seconds / 3600.0,
                "gpu_hours": trainer.gpu_seconds / 3600.0,
                "gpu_stretches": trainer.gpu_stretches,
                "stopped_by": trainer.stopped_by or "max_steps",
                "skipped_steps": trainer.skipped_steps,
                "device": str(device),
                "metrics": metrics,
                "skipped": [e.as_dict() for e in errors],
            }
            _write_json(out_dir / "train_summary.json", summary)
            _write_json(out_dir / INPUTS_FILE, {"dataset": str(dataset_dir.resolve()), "prior": str(prior_dir.resolve())})
            plot_history(out_dir / HISTORY_FILE, out_dir / CURVES_FILE, f"bondiff train: {dataset_dir.name}, {trainer.step} steps")
        barrier(info)
    finally:
        torch.set_num_threads(threads)
        cleanup(info)
    result_metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    result_metrics.update({"cpu_hours": trainer.cpu_seconds / 3600.0, "steps": float(trainer.step), "train_molecules": float(len(train_records)), "skipped_molecules": float(len(errors))})
    if trainer.train_seconds > 0:
        result_metrics["train_molecules_per_s"] = trainer.session_molecules / trainer.train_seconds
    return StageResult(
        stage="train",
        outputs={"model_dir": model_dir, "checkpoint": ckpt_dir / LAST},
        metrics=result_metrics,
        artifacts=[p for p in (out_dir / "train_summary.json", out_dir / HISTORY_FILE, out_dir / CURVES_FILE) if p.is_file()] if info.is_main else [],
        inputs=[
            InputDataset("dataset", str(dataset_dir), ds.digest, "training"),
            InputDataset("prior", str(prior_dir), _prior_digest(prior_dir), "input"),
        ],
        tags={"world_size": str(info.world), "device": str(device), "val_source": val_source},
        errors=errors,
        extra={"spec": spec, "rank": info.rank, "model": trainer.core, "ema_model": trainer.ema.model},
    )


def _prior_digest(prior_dir: Path) -> str:
    from pipeline.hashing import path_hash

    return path_hash(prior_dir)
