"""``bondiff train``: train the denoiser on a dataset + prior, track it in MLflow, register the EMA model."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands._common import UserError, add_config_args, add_config_flag, add_subcommand, add_tracking_args, check_device, run_stage_command, stage_config
from pipeline.io_paths import check_output_dir

EXAMPLES = """\
  bondiff train --dataset work/qm9 --prior work/qm9-prior --out work/train-tiny --config configs/train_tiny.yaml
  bondiff train --dataset work/qm9 --prior work/qm9-prior --out work/train-tiny --resume
  bondiff train --dataset my_mols --prior my_prior --out work/finetuned --init-from shipped --set max_steps=500
  bondiff train --dataset D --prior P --out O --set cpu_budget_s=7200 [--resume]   # a 2-CPU-hour stretch
  bondiff train --dataset D --prior P --out O --config configs/train_base.yaml --set max_steps=20000 --device cuda
  torchrun --nproc_per_node=4 -m pipeline.cli train --dataset D --prior P --out O --config configs/train_base.yaml
"""

DESCRIPTION = (
    "Train the equivariant x̂₀-denoiser on the train split of a dataset, with the prior of a prior dir. "
    "Checkpoints go to OUT/checkpoints, the final EMA model to OUT/model; the run is tracked in MLflow "
    "and the EMA model is registered as 'bondiff-denoiser' (load it with models:/bondiff-denoiser/<version>). "
    "Runs unchanged under torchrun (DistributedDataParallel)."
)


def register(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    from pipeline.train.config import TrainConfig

    p = add_subcommand(sub, name, help_text, _handle, description=DESCRIPTION, examples=EXAMPLES)
    p.add_argument("--dataset", required=True, type=Path, help="dataset dir (from `bondiff ingest`)")
    p.add_argument("--prior", required=True, type=Path, help="prior dir with prior.json (from `bondiff prior`)")
    p.add_argument("--out", required=True, type=Path, help="output dir (checkpoints/, model/, train_summary.json)")
    p.add_argument("--resume", action="store_true", help="continue exactly from OUT/checkpoints/last.pt")
    add_config_flag(p, TrainConfig, "init_from", "--init-from", metavar="MODEL")
    add_config_flag(p, TrainConfig, "device", "--device")
    p.add_argument("--no-register", action="store_true", help="do not register the model in the MLflow registry")
    add_config_args(p, default="configs/train_tiny.yaml")
    add_tracking_args(p)


def _handle(args: argparse.Namespace) -> int:
    import os

    from pipeline.train.config import TrainConfig
    from pipeline.train.stage import run_train

    config_path = getattr(args, "config", None)
    if config_path == "configs/train_tiny.yaml" and not Path(config_path).is_file():
        args.config = None  # default config not next to us (installed package): use built-in defaults
    cfg = stage_config(TrainConfig, args)
    check_device(cfg.device)  # --device cuda without CUDA: a usage error, before any work
    for label, path in (("dataset", args.dataset), ("prior", args.prior)):
        if not path.exists():
            raise UserError(f"--{label} {path} does not exist")
    rank = int(os.environ.get("RANK", "0"))
    if rank == 0:  # before any work (rank 0 only: under torchrun the others may find its first files)
        # a new/empty folder or an earlier training folder (continued with --resume)
        check_output_dir(args.out, ("metrics.csv", "train_summary.json", "checkpoints"), inputs=[args.dataset, args.prior], what="training folder")
    result, run_id = run_stage_command(  # under torchrun only rank 0 tracks and reports (the others' metrics are their share only)
        args, "train", cfg, lambda logger: run_train(cfg, args.dataset, args.prior, args.out, logger, resume=args.resume),
        pass_logger=True, track=not args.no_track and rank == 0,
    )
    if rank != 0:
        return 0
    version = None
    if run_id and cfg.register_model and not args.no_register:
        from pipeline.registry import register_model

        version = register_model(run_id, result.outputs["model_dir"])
    _report(result, run_id, version)
    return 0


def _report(result, run_id, version) -> None:
    m = result.metrics
    print(f"trained {int(m.get('steps', 0))} steps on {int(m.get('train_molecules', 0))} molecules; model: {result.outputs['model_dir']}")
    for key in ("loss", "val_loss", "sample_valid_frac", "train_molecules_per_s"):
        if key in m:
            print(f"  {key}: {m[key]:.4g}")
    if result.errors:
        print(f"  skipped molecules: {len(result.errors)} (see train_summary.json)")
    if run_id:
        print(f"  MLflow run: {run_id}")
    if version is not None:
        print(f"  registered: models:/bondiff-denoiser/{version}")
