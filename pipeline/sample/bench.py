"""Throughput benchmark: bondiff sampling vs RDKit ETKDGv3 and ETKDGv3 + MMFF on the same molecules and sample count.

    python -m pipeline.sample.bench --limit 20 -n 10                # CPU, default model and settings
    python -m pipeline.sample.bench --limit 20 --device cuda --model models:/bondiff-denoiser/3
    python -m pipeline.sample.bench --model path/to/model_dir      # any model directory, e.g. a new network

bondiff runs with ``bondiff sample``'s defaults (sampler, steps, corrector passes, refinement: ``SampleConfig``) unless
``--sampler`` / ``--steps`` / ``--refine`` say otherwise; ETKDG + MMFF relaxes with the same helper
and iteration limit as bondiff's refinement.

Prints one table (conformers per wall-clock second and per CPU-second of this process for each
method, same machine, same run; CPU-seconds stay meaningful on a shared, oversubscribed machine).
The molecules are the first ``--limit`` of the Hutchison development set (``--smi`` to change).
Model loading and input preparation (hydrogens, stereo) are outside both timings; the bondiff
timing covers featurisation, sampling (retries included), checks and the mirror guard. ``--untrained
[tiny|base]`` uses a randomly initialised model of that size (``--untrained-config TRAIN_YAML``: the
network of a ``bondiff train`` config): its geometry is meaningless, but its cost per step is that
of a trained model of the same size (only non-finite output counts as diverged).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any, Sequence

__all__ = ["main", "bench_bondiff", "bench_etkdg"]

# the drug-like development reference set shipped with the repository (data/README.md)
DEFAULT_SMI = Path(__file__).resolve().parents[2] / "data" / "hutchison_dev" / "molecules.smi"


def bench_etkdg(mols: Sequence[Any], n: int, seed: int, mmff: bool = False, max_iters: int = 1000) -> dict[str, float]:
    """ETKDGv3 (+ optional MMFF) with one thread; returns counts and seconds."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from pipeline.sample.refine import force_field_optimize

    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    params.numThreads = 1
    made = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for mol in mols:
        m = Chem.Mol(mol)
        cids = AllChem.EmbedMultipleConfs(m, n, params)
        if mmff and len(cids):
            force_field_optimize(m, max_iters, threads=1)
        made += len(cids)
    return {"conformers": made, "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


def bench_bondiff(mols: Sequence[Any], n: int, model: Any, spec: Any, args: argparse.Namespace) -> dict[str, float]:
    import torch

    from pipeline.sample.generate import generate_detailed

    from pipeline.sample.config import DivergenceConfig

    # an untrained model's geometry is arbitrary: count only non-finite output as diverged there
    div = DivergenceConfig(min_bond_length=0.0, max_bond_length=1e6, max_radius=1e9) if args.untrained else DivergenceConfig()
    t0, c0 = time.perf_counter(), time.process_time()
    out = generate_detailed(
        mols, model, spec, n, sampler=args.sampler, steps=args.steps, seed=args.seed, device=args.device,
        atom_budget=args.atom_budget, divergence=div, progress=False, threads=args.threads, refine=args.refine,
        corrector_passes=args.corrector_passes,
    )
    if str(args.device).startswith("cuda"):
        torch.cuda.synchronize()
    return {
        "conformers": out.stats.generated,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "failed": out.stats.failed,
        "retried": out.stats.retried,
    }


def _load_molecules(path: Path, limit: int, max_atoms: int | None) -> tuple[list[Any], list[str]]:
    from pipeline.sample.inputs import SampleInputs, read_inputs

    mols, errors = read_inputs(SampleInputs(input=path), seed=0, max_atoms=max_atoms)
    skipped = [str(e) for e in errors]
    return [m.mol for m in mols[:limit]], skipped


def _row(name: str, r: dict[str, float], n_mols: int) -> str:
    s, cpu = r["seconds"], r["cpu_seconds"]
    per_s = r["conformers"] / s if s > 0 else float("nan")
    per_cpu_s = r["conformers"] / cpu if cpu > 0 else float("nan")
    cpu_per = cpu / r["conformers"] if r["conformers"] else float("nan")
    return (f"| {name:<44} | {n_mols:>5} | {int(r['conformers']):>6} | {s:>9.2f} | {cpu:>9.2f} | {per_s:>9.2f} | {per_cpu_s:>10.2f} "
            f"| {cpu_per:>10.4f} |")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.sample.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--smi", type=Path, default=DEFAULT_SMI, help="molecules (.smi with names)")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("-n", "--num-confs", type=int, default=10)
    p.add_argument("--sampler", default=None, help="default: bondiff sample's (SampleConfig)")
    p.add_argument("--steps", type=int, default=None, help="default: bondiff sample's (SampleConfig)")
    p.add_argument("--corrector-passes", type=int, default=None, help="default: bondiff sample's for --refine (SampleConfig.passes); 0 = off")
    p.add_argument("--refine", choices=["none", "mmff"], default=None, help="default: bondiff sample's (SampleConfig)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--atom-budget", type=int, default=4096)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads while sampling (default 1, as bondiff sample; 0 = torch's default)")
    p.add_argument("--model", default=None, help="model ref (default: the shipped model; 'latest' = latest registered)")
    p.add_argument("--untrained", nargs="?", const="tiny", default=None, choices=["tiny", "base"],
                   help="a randomly initialised model of this size (default tiny) instead of a trained one")
    p.add_argument("--untrained-config", type=Path, default=None, metavar="TRAIN_YAML",
                   help="a randomly initialised model with the network of this `bondiff train` config "
                        "(e.g. configs/train_v1.yaml: the size of v1, the first shipped model)")
    args = p.parse_args(argv)
    from pipeline.sample.config import SampleConfig

    defaults = SampleConfig()
    args.sampler = args.sampler or defaults.sampler
    args.steps = args.steps or defaults.steps
    args.refine = args.refine or defaults.refine
    if args.corrector_passes is None:
        args.corrector_passes = SampleConfig(refine=args.refine).passes

    import torch

    if args.untrained_config:
        args.untrained = args.untrained or "config"  # untrained: only non-finite output counts as diverged
    if args.untrained:
        from pipeline.model import ModelSpec, build_denoiser
        from pipeline.model.spec import net_preset

        torch.manual_seed(0)
        if args.untrained_config:
            from pipeline.config import load_config
            from pipeline.train.config import TrainConfig

            mc = load_config(TrainConfig, args.untrained_config).model
            spec = ModelSpec(size="custom", net=mc.net, features=mc.features, max_atoms=0)
            label = f"untrained, net of {args.untrained_config}"
        else:
            spec = ModelSpec(size=args.untrained, net=net_preset(args.untrained), max_atoms=0)
            label = f"untrained {args.untrained}"
        model = build_denoiser(spec).eval().to(args.device)
    else:
        from pipeline.sample.stage import load_model

        model, spec, label = load_model(args.model, args.device)
    from pipeline.sample.modelspec import spec_max_atoms

    mols, skipped = _load_molecules(args.smi, args.limit, spec_max_atoms(spec))
    atoms = sum(m.GetNumAtoms() for m in mols)
    print(f"molecules: {len(mols)} from {args.smi} ({atoms / max(len(mols), 1):.1f} atoms/molecule with H); "
          f"{len(skipped)} input record(s) skipped")
    print(f"samples per molecule: {args.num_confs}; bondiff: model {label}, sampler {args.sampler}, {args.steps} steps + {args.corrector_passes} corrector passes, refine {args.refine}, "
          f"device {args.device}, torch threads {args.threads or torch.get_num_threads()}; cpu count {os.cpu_count()}; "
          f"load avg {os.getloadavg()[0]:.1f}")
    if args.device.startswith("cuda"):
        print(f"gpu: {torch.cuda.get_device_name()}")
    # warm-up (first-call overheads: kernel selection, lazy imports) on one molecule
    bench_bondiff(mols[:1], 1, model, spec, argparse.Namespace(**{**vars(args), "steps": 2}))
    name = f"bondiff {args.sampler} ({args.steps} steps + {args.corrector_passes} corr., refine {args.refine}, {args.device})"
    results = [(name, bench_bondiff(mols, args.num_confs, model, spec, args))]
    results.append(("RDKit ETKDGv3 (1 thread)", bench_etkdg(mols, args.num_confs, args.seed)))
    results.append(("RDKit ETKDGv3 + MMFF (1 thread)", bench_etkdg(mols, args.num_confs, args.seed, mmff=True, max_iters=defaults.refine_max_iters)))
    print()
    print("| method                                       | mols  | confs  | wall s    | CPU s     | confs/s   | confs/CPU-s | CPU-s/conf |")
    print("|----------------------------------------------|-------|--------|-----------|-----------|-----------|------------|------------|")
    for name, r in results:
        print(_row(name, r, len(mols)))
    r0 = results[0][1]
    if r0.get("failed") or r0.get("retried"):
        print(f"\nbondiff: {int(r0['retried'])} conformer(s) retried, {int(r0['failed'])} diverged for good (not written); "
              "retries are inside the timing")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
