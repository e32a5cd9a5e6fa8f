"""Cost of one sampler step (R z draw + update) for a batch of molecules: ``python -m pipeline.diffusion.bench``.

Molecule graphs are synthetic drug-like trees (a heavy-atom tree, degree ≤ 4, hydrogens filling
valence 4) of about ``--atoms`` atoms. The denoiser is a free stand-in (returns ``x`` itself), so the
figures are the sampler's own overhead: prior factor construction (once per batch), one ``R z``
draw, and one step of every method. Prints a table (wall and process-CPU milliseconds; on a shared,
loaded CPU the CPU column is the fair figure); nothing is written.

    python -m pipeline.diffusion.bench                       # 1,024 molecules × ~50 atoms, float32, CPU
    python -m pipeline.diffusion.bench --dtype float64 --device cuda --molecules 4096
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from pipeline.diffusion.samplers import SAMPLERS, _Ctx
from pipeline.diffusion.schedules import get_schedule
from pipeline.prior import PriorBatch, PriorParams


def synthetic_molecule(n_target: int, rng: np.random.Generator) -> tuple[int, np.ndarray]:
    """A tree of ~n_target/3 heavy atoms (degree ≤ 4) with H on every free valence (4)."""
    n_heavy = max(1, round(n_target / 3))
    deg = [0] * n_heavy
    bonds = []
    for a in range(1, n_heavy):
        choices = [b for b in range(a) if deg[b] < 3]
        b = int(rng.choice(choices)) if choices else a - 1
        bonds.append((a, b))
        deg[a] += 1
        deg[b] += 1
    n = n_heavy
    for a in range(n_heavy):
        for _ in range(4 - deg[a]):
            if n >= n_target:
                break
            bonds.append((a, n))
            n += 1
    return n, np.array(bonds, dtype=np.int64)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device: torch.device, repeats: int) -> tuple[float, float]:
    """(wall s, process CPU s) per call, after one untimed call."""
    fn()
    _sync(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / repeats, (time.process_time() - c0) / repeats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.diffusion.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--molecules", type=int, default=1024)
    ap.add_argument("--atoms", type=int, default=50, help="atoms per molecule (±10%% spread)")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype, device = getattr(torch, args.dtype), torch.device(args.device)
    rng = np.random.default_rng(0)
    graphs = [synthetic_molecule(int(rng.integers(int(args.atoms * 0.9), int(args.atoms * 1.1) + 1)), rng) for _ in range(args.molecules)]

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    prior = PriorBatch.from_graphs([n for n, _ in graphs], [b for _, b in graphs], PriorParams(c=1.6, lam=0.05), dtype=dtype, device=device)
    _sync(device)
    t_build = (time.perf_counter() - t0, time.process_time() - c0)
    sch = get_schedule()
    ctx = _Ctx(lambda x, t, b: x, prior, sch, None, torch.Generator(device="cpu").manual_seed(0))
    x = prior.sample(ctx.generator)
    t, s = torch.tensor(0.5, dtype=dtype, device=device), torch.tensor(0.48, dtype=dtype, device=device)

    rows = [("build PriorBatch (eigh per molecule, once per batch)", t_build), ("R z draw", _time(lambda: prior.sample(ctx.generator), device, args.repeats))]
    for name, step in SAMPLERS.items():
        rows.append((f"step {name} (incl. its R z draws)", _time(lambda: step(ctx, x, t, s), device, args.repeats)))
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    n_atoms = int(prior.num_atoms)
    print(f"batch: {args.molecules} molecules, {n_atoms} atoms (Nmax {prior.R.shape[1]}), {args.dtype}, {device}, torch threads {torch.get_num_threads()}")
    print(f"{'operation':<55} {'wall ms':>9} {'CPU ms':>9} {'CPU µs/molecule':>16}")
    for name, (sec, cpu) in rows:
        print(f"{name:<55} {sec * 1e3:>9.2f} {cpu * 1e3:>9.2f} {cpu * 1e6 / args.molecules:>16.2f}")
    mb = lambda b: b / 2**20  # noqa: E731
    print(f"memory: R {mb(prior.R.numel() * prior.R.element_size()):.1f} MiB, x [A,3] {mb(x.numel() * x.element_size()):.2f} MiB, "
          f"process peak RSS +{(rss1 - rss0) / 1024:.1f} MiB during the benchmark"
          + (f", CUDA peak {mb(torch.cuda.max_memory_allocated()):.1f} MiB" if device.type == "cuda" else ""))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
