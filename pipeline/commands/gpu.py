"""``bondiff gpu pack|import``: the CPU-machine ends of a training stretch on a lent GPU (docs/training.md).

``pack`` writes the carry bundle (:mod:`pipeline.train.bundle`) that ``python -m pipeline.train.gpu_job`` reads
on the GPU machine; ``import`` merges what that job returned into the training folder and logs it to MLflow.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path
from typing import Any

from pipeline.commands._common import UserError, add_subcommand, add_tracking_args, tracking_kwargs

EXAMPLES = """\
  bondiff gpu pack --dataset data/train --prior training/v2-prior --checkpoint training/v2/checkpoints/last.pt --out build/gpu
  # on the GPU machine: python -m pipeline.train.gpu_job --bundle build/gpu --out $OUT   (make gpu-stretch)
  bondiff gpu import --from /work/.device/<files_at> --into training/v2 --experiment bondiff-v2
"""

MIB = 2**20
TRAVEL_LIMIT = 64 * MIB  # what a lent machine receives in all: the repository's files + carried paths
MARGIN = 2 * MIB


def travelling_bytes(root: Path) -> int | None:
    """Bytes of the files that travel with a checkout anyway (tracked + untracked-not-ignored); None outside git."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True, text=True).stdout.strip()
    return sum((Path(top) / f).stat().st_size for f in out.decode().split("\0") if f and (Path(top) / f).is_file())


def register(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    p = add_subcommand(sub, name, help_text, lambda a: 2, description=__doc__.split("\n\n")[1].replace("\n", " "), examples=EXAMPLES)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    pk = actions.add_parser("pack", help="write the carry bundle for a GPU stretch", description=help_text)
    pk.set_defaults(func=_pack)
    pk.add_argument("--dataset", required=True, type=Path, help="the training set (data/train); it travels with the repository")
    pk.add_argument("--prior", required=True, type=Path, help="the campaign's prior dir (training/v2-prior)")
    pk.add_argument("--checkpoint", required=True, type=Path, help="the checkpoint to resume (training/v2/checkpoints/last.pt)")
    pk.add_argument("--out", required=True, type=Path, help="bundle dir, inside the checkout the device tool sends (build/gpu)")
    pk.add_argument("--cache", type=Path, default=None, help="feature cache dir (default: the checkpoint's training folder's cache/)")
    pk.add_argument("--max-mib", type=float, default=None,
                    help="bundle budget (default: 64 MiB minus what travels anyway - the checkout's files - minus 2 MiB)")
    pk.add_argument("--seed", type=int, default=0, help="seed of the subset when everything does not fit")

    im = actions.add_parser("import", help="merge a returned GPU run into the training folder", description=help_text)
    im.set_defaults(func=_import)
    im.add_argument("--from", dest="returned", required=True, type=Path, help="the files the GPU job wrote to $OUT")
    im.add_argument("--into", required=True, type=Path, help="the training folder (training/v2)")
    add_tracking_args(im)


def _pack(args: argparse.Namespace) -> int:
    from pipeline.train.bundle import pack_bundle

    for label, path in (("dataset", args.dataset), ("prior", args.prior), ("checkpoint", args.checkpoint)):
        if not path.exists():
            raise UserError(f"--{label} {path} does not exist")
    travelling = travelling_bytes(Path.cwd())
    if args.max_mib is not None:
        budget = int(args.max_mib * MIB)
    elif travelling is not None:
        budget = TRAVEL_LIMIT - travelling - MARGIN
    else:
        raise UserError("not inside a git checkout: give --max-mib (what may travel besides the repository's files)")
    if budget <= 0:
        raise UserError(f"no room for a bundle: the checkout's files are {travelling / MIB:.1f} MiB of the 64 MiB that travel")
    cache = args.cache or args.checkpoint.resolve().parent.parent / "cache"
    meta = pack_bundle(args.dataset, args.prior, args.checkpoint, args.out, budget, args.seed, cache)
    b, s = meta["bytes"], meta["subset"]
    print(f"bundle {args.out}: features {b['features'] / MIB:.2f} MiB + checkpoint {b['checkpoint'] / MIB:.2f} MiB "
          f"(budget {budget / MIB:.1f} MiB); step {meta['checkpoint']['step']}")
    print(f"  train molecules {s['train_molecules']} of {s['of_train_molecules']}"
          + (f" (seeded subset, seed {s['seed']})" if s["train_molecules"] < s["of_train_molecules"] else " (all)")
          + f", val molecules {s['val_molecules']}")
    if travelling is not None:
        total = travelling + b["features"] + b["checkpoint"]
        print(f"  travels: checkout {travelling / MIB:.1f} MiB + bundle = {total / MIB:.1f} MiB of 64 MiB")
    return 0


def _import(args: argparse.Namespace) -> int:
    from pipeline.train.gpu_import import import_gpu_run

    if not args.returned.is_dir():
        raise UserError(f"--from {args.returned} is not a directory")
    summary = import_gpu_run(args.returned, args.into)
    run = summary["gpu_run"]
    print(f"imported {run['device']}: steps {run['from_step']} -> {summary['steps']} "
          f"({run.get('gpu_seconds', 0.0) / 60:.1f} GPU-min; {summary['gpu_hours'] * 60:.1f} GPU-min in all) into {args.into}")
    if not args.no_track:
        run_id = _log_gpu_run(args.returned, args.into, run, **tracking_kwargs(args))
        print(f"  MLflow run: {run_id}")
    return 0


def _log_gpu_run(returned: Path, train_dir: Path, run: dict[str, Any], **setup: Any) -> str:
    """One MLflow run ``train-gpu`` with the GPU run's metric curves, device tags and the merged summary; its id."""
    import mlflow

    from pipeline.tracking import MlflowLogger, setup_tracking
    from pipeline.train.history import HISTORY_FILE, read_history

    setup_tracking(**setup)
    tags = {"stage": "train", "device": str(run.get("device")), "kind": "gpu-stretch", "output.train_dir": str(train_dir)}
    with mlflow.start_run(run_name="train-gpu", tags=tags) as active:
        logger = MlflowLogger(active.info.run_id)
        by_step: dict[int, dict[str, float]] = {}
        for key, points in read_history(Path(returned) / HISTORY_FILE).items():
            for step, value in points:
                by_step.setdefault(step, {})[key] = value
        for step in sorted(by_step):
            logger.log_metrics(by_step[step], step=step)
        mlflow.log_params({k: run.get(k) for k in ("from_step", "to_step", "atom_budget", "train_molecules", "torch")})
        mlflow.log_metrics({"gpu_seconds": float(run.get("gpu_seconds", 0.0)), "load_s": float(run.get("load_s", 0.0))})
        for name in ("train_summary.json", "training_curves.png"):
            if (Path(train_dir) / name).is_file():
                mlflow.log_artifact(str(Path(train_dir) / name))
        return active.info.run_id
