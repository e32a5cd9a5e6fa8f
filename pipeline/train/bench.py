"""Training throughput benchmark: ``python -m pipeline.train.bench`` prints molecules/s per model size.

Builds a small drug-like toy dataset (RDKit ETKDG + MMFF conformers of ``TOY_SMILES``) in a temp
dir, or uses ``--dataset DIR --prior DIR``, then times ``run_train`` for a few steps per size
(evaluation off). Throughput counts training molecules (forward + backward + optimiser + EMA)
per wall-clock second over all timed steps, and per CPU-second of the process (all its threads; the
fair figure on a shared, loaded CPU); ``--warmup`` steps run first and are not counted.

    python -m pipeline.train.bench                       # tiny + base on CPU
    python -m pipeline.train.bench --device cuda --steps 50 --sizes tiny base
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


def _bench_one(size: str, dataset: Path, prior: Path, out: Path, steps: int, warmup: int, atom_budget: int, device: str, threads: int) -> dict:
    from pipeline.train.config import TrainConfig
    from pipeline.train.stage import run_train
    from pipeline.types import NullLogger

    class Timer(NullLogger):
        def __init__(self):
            self.marks: dict[int, tuple[float, float, float]] = {}

        def log_metrics(self, metrics, step=None):
            if "molecules_per_s" in metrics and step is not None:
                self.marks[step] = (metrics["cpu_hours"] * 3600.0, metrics["molecules"], metrics["molecules_per_s"])

    cfg = TrainConfig(
        model={"size": size},
        max_steps=warmup + steps,
        log_every=1,
        atom_budget=atom_budget,
        repeats=64,
        device=device,
        cpu_threads=threads,
        eval={"every": 0, "sample_molecules": 0, "val_molecules": 1},
        checkpoint_every=10**9,
    )
    timer = Timer()
    res = run_train(cfg, dataset, prior, out / size, timer)
    steps_logged = sorted(timer.marks)
    timed = [s for s in steps_logged if s > warmup]
    mol_per_s = sum(timer.marks[s][2] for s in timed) / max(len(timed), 1)
    # log_every = 1: each logged window is one step; its molecules are counted, its CPU time is the trainer's
    prev = {s: p for p, s in zip(steps_logged, steps_logged[1:])}
    molecules = sum(timer.marks[s][1] for s in timed)
    first = prev.get(timed[0]) if timed else None
    cpu = timer.marks[timed[-1]][0] - timer.marks[first][0] if first is not None else float("nan")
    params = sum(p.numel() for p in res.extra["model"].parameters())
    return {"size": size, "params": params, "device": str(res.tags.get("device")), "steps": steps, "mol_per_s": mol_per_s,
            "molecules": molecules, "cpu_s": cpu, "mol_per_cpu_s": molecules / cpu if cpu > 0 else float("nan")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.train.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["tiny", "base"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--atom-budget", type=int, default=1024)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    ap.add_argument("--dataset", type=Path, default=None)
    ap.add_argument("--prior", type=Path, default=None)
    args = ap.parse_args(argv)

    from pipeline.prior.params import PriorParams
    from pipeline.train.toydata import TOY_SMILES, make_toy_dataset, write_prior_json

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        dataset = args.dataset or make_toy_dataset(root / "ds", TOY_SMILES, n_confs=2)
        prior = args.prior or write_prior_json(root / "prior", PriorParams())
        rows = [
            _bench_one(s, dataset, prior, root / "out", args.steps, args.warmup, args.atom_budget, args.device, args.threads)
            for s in args.sizes
        ]
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"training throughput (atom budget {args.atom_budget}, {args.steps} timed steps after {args.warmup} warm-up; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, load avg {load:.1f}, {os.cpu_count()} CPUs)")
    print(f"{'size':<6} {'params':>9} {'device':<8} {'molecules/s':>12} {'CPU s':>8} {'molecules/CPU-s':>16}")
    for r in rows:
        print(f"{r['size']:<6} {r['params']:>9} {r['device']:<8} {r['mol_per_s']:>12.1f} {r['cpu_s']:>8.2f} {r['mol_per_cpu_s']:>16.1f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
