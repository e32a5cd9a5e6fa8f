"""One training stretch on a lent GPU machine: ``python -m pipeline.train.gpu_job --bundle build/gpu --out $OUT``.

That machine has torch (CUDA), e3nn, torch-geometric and numpy, but no RDKit, pydantic or MLflow, and runs
a command for at most 10 minutes: this job imports none of the three (a test runs it with them blocked).
It reads the bundle (:mod:`pipeline.train.bundle`: features + the checkpoint + the resolved config and
spec as JSON), resumes the checkpoint exactly (model, EMA, optimiser, LR schedule, RNG, epoch position
rescaled to the larger atom budget), trains on CUDA (bf16 autocast as the config says, TF32 matmuls) until
``--wall-s`` seconds after the start minus ``--reserve-s`` for the final evaluation, and writes into ``--out``:

    last.pt           the full training state (fp32 weights + EMA + optimiser; resumable exactly), every
                      ``--checkpoint-every-s`` seconds and at the end
    ema_bf16.pt       {"spec": JSON, "ema": bf16 EMA weights, "step": int}: the model to sample with
    metrics.csv       every logged metric (step,key,value) of this stretch, ``gpu_hours`` included
    gpu_summary.json  steps, GPU-seconds, load and wall seconds, device name, final metrics, the bundle's
                      checkpoint hash (``bondiff gpu-import`` checks it), ``complete`` (false until the end)

Back on the CPU machine, ``bondiff gpu-import`` merges them into the training folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["main", "run_job"]

SUMMARY_FILE = "gpu_summary.json"
EMA_FILE = "ema_bf16.pt"


def run_job(
    bundle_dir: Path,
    out: Path,
    wall_s: float,
    dataset_dir: Path | None = None,
    atom_budget: int | None = None,
    checkpoint_every_s: float = 60.0,
    reserve_s: float = 30.0,
    device_name: str = "auto",
    max_steps: int | None = None,
    workers: int = 6,
) -> dict:
    """Run the stretch (module docstring); returns the summary. ``max_steps`` caps this run's steps (tests)."""
    t_start = time.perf_counter()
    import torch

    from pipeline.atomic import write_file_atomic
    from pipeline.model.precond import build_denoiser
    from pipeline.plain import namespace, spec_view
    from pipeline.train.bundle import read_bundle
    from pipeline.train.checkpoint import load_checkpoint, save_checkpoint
    from pipeline.train.ddp import DistInfo, select_device
    from pipeline.train.history import HISTORY_FILE, HistoryLogger
    from pipeline.train.loop import Trainer
    from pipeline.types import NullLogger

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = select_device(device_name)
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 matmuls where autocast leaves float32
    bundle = read_bundle(bundle_dir, dataset_dir)
    config_json = json.dumps(bundle.config)  # the campaign's config goes back unchanged in the checkpoint
    spec_json = json.dumps(bundle.spec)
    run_cfg = dict(bundle.config)
    run_cfg.update(device=device.type, cpu_budget_s=None, checkpoint_every=10**9)  # time-based checkpoints instead
    if atom_budget:
        run_cfg["atom_budget"] = int(atom_budget)
    cfg = namespace(run_cfg)
    torch.manual_seed(cfg.seed)
    model = build_denoiser(spec_view(bundle.spec)).to(device)
    history = HistoryLogger(out / HISTORY_FILE, NullLogger())
    val = bundle.val or bundle.train
    trainer = Trainer(
        model, cfg, bundle.train, val, device, DistInfo(), history, out,
        extra_state=lambda: {"spec": spec_json, "config": config_json},
    )
    state = load_checkpoint(bundle.checkpoint)
    trainer.load_state_dict(state)
    start_step, start_gpu = trainer.step, trainer.gpu_seconds
    history.begin(start_step)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    entry = {"device": name, "from_step": start_step, "to_step": start_step, "gpu_seconds": 0.0,
             "atom_budget": cfg.atom_budget, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    trainer.gpu_stretches.append(entry)
    load_s = time.perf_counter() - t_start
    summary = {
        "complete": False, "device": name, "torch": torch.__version__, "from_step": start_step,
        "bundle_checkpoint_sha256": bundle.meta["checkpoint"]["sha256"], "bundle_subset": bundle.meta["subset"],
        "train_molecules": len(bundle.train), "val_molecules": len(val), "atom_budget": cfg.atom_budget,
        "load_s": load_s, "wall_budget_s": wall_s,
    }
    if max_steps is not None:
        trainer.stop_at = start_step + max_steps

    def on_save(path: Path) -> None:  # after every checkpoint: the bf16 model and the summary so far
        ema = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v) for k, v in trainer.ema.model.state_dict().items()}
        save_checkpoint(out / EMA_FILE, {"spec": spec_json, "ema": ema, "step": trainer.step})
        summary.update(to_step=trainer.step, steps=trainer.step - start_step, gpu_seconds=trainer.gpu_seconds - start_gpu,
                       train_s=trainer.train_seconds, data_wait_s=trainer.data_wait_seconds, wall_s=time.perf_counter() - t_start)
        if device.type == "cuda":
            summary["max_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        if not summary["complete"]:
            summary["metrics"] = trainer.last_metrics
        write_file_atomic(out / SUMMARY_FILE, json.dumps(summary, indent=1, default=str) + "\n")

    def stamp() -> None:  # this stretch's entry, as of the state about to be saved
        entry.update(to_step=trainer.step, gpu_seconds=trainer.gpu_seconds - start_gpu)

    state_dict = trainer.state_dict
    trainer.state_dict = lambda: (stamp(), state_dict())[1]  # type: ignore[method-assign]
    trainer.on_save = on_save
    trainer.loader_workers = workers
    trainer.checkpoint_every_s = checkpoint_every_s
    trainer.deadline = t_start + wall_s - reserve_s
    print(f"gpu_job: {name}, {len(bundle.train)} training molecules, step {start_step}, loaded in {load_s:.1f} s", flush=True)
    metrics = trainer.fit()
    summary.update(complete=True, metrics=metrics, stopped_by=trainer.stopped_by or "max_steps")
    on_save(out / "last.pt")
    rate = summary["steps"] / max(trainer.train_seconds, 1e-9)
    print(f"gpu_job: {summary['steps']} steps ({rate:.2f} steps/s; {summary['data_wait_s']:.0f} s of {summary['train_s']:.0f} s "
          f"waiting for batches), step {trainer.step}, wall {summary['wall_s']:.0f} s; files in {out}", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.train.gpu_job", description=__doc__.split("\n\n")[0])
    p.add_argument("--bundle", type=Path, required=True, help="bundle dir from `bondiff gpu-pack` (default there: build/gpu)")
    p.add_argument("--out", type=Path, required=True, help="output dir (on the lent machine: $OUT)")
    p.add_argument("--dataset", type=Path, default=None, help="the packed training set (default: the path it was packed from)")
    p.add_argument("--wall-s", type=float, default=510.0, help="whole job, loading included (default 510: 8.5 minutes)")
    p.add_argument("--reserve-s", type=float, default=30.0, help="kept for the final evaluation and checkpoint")
    p.add_argument("--atom-budget", type=int, default=None, help="padded atoms per step (default: the config's)")
    p.add_argument("--checkpoint-every-s", type=float, default=60.0)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--max-steps", type=int, default=None, help="at most this many steps (tests)")
    p.add_argument("--workers", type=int, default=6, help="processes collating the coming batches (0: in the training loop)")
    args = p.parse_args(argv)
    from pipeline.types import StageError

    try:
        run_job(args.bundle, args.out, args.wall_s, args.dataset, args.atom_budget, args.checkpoint_every_s,
                args.reserve_s, args.device, args.max_steps, args.workers)
    except (StageError, FileNotFoundError) as exc:
        print(f"gpu_job: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
