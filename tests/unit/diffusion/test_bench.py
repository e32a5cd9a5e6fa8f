"""The sampler-step benchmark runs end to end on a small batch and prints its table: the batch it built, one row per operation."""

from __future__ import annotations

import re

import numpy as np

from pipeline.diffusion.bench import main, synthetic_molecule
from pipeline.diffusion.samplers import SAMPLERS


def test_synthetic_molecule_is_a_tree_with_the_asked_atom_count():
    rng = np.random.default_rng(0)
    for n_target in (1, 5, 23, 50):
        n, bonds = synthetic_molecule(n_target, rng)
        assert n == n_target
        assert len(bonds) == n - 1  # a spanning tree: connected, no rings
        assert sorted(set(bonds.ravel().tolist())) == list(range(n)) or n == 1


def test_bench_prints_one_row_per_operation_with_consistent_figures(capsys):
    assert main(["--molecules", "6", "--atoms", "12", "--repeats", "2", "--threads", "1", "--dtype", "float64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # the batch line describes the batch that was built: the same synthetic graphs (seed 0, 12 atoms ±10 %)
    rng = np.random.default_rng(0)
    sizes = [synthetic_molecule(int(rng.integers(10, 14)), rng)[0] for _ in range(6)]
    assert lines[0] == f"batch: 6 molecules, {sum(sizes)} atoms (Nmax {max(sizes)}), float64, cpu, torch threads 1"
    assert lines[1].split() == ["operation", "wall", "ms", "CPU", "ms", "CPU", "µs/molecule"]
    # exactly one row per operation, in order: the prior build, the R z draw, then every sampler
    rows = lines[2 : 2 + 2 + len(SAMPLERS)]
    expected = ["build PriorBatch", "R z draw", *[f"step {m} " for m in SAMPLERS]]
    assert [next((e for e in expected if ln.startswith(e)), None) for ln in rows] == expected
    assert lines[2 + len(rows)].startswith("memory: ") and len(lines) == 3 + len(rows)
    for line in rows:
        wall, cpu, per_mol = (float(v) for v in re.findall(r"-?\d+\.\d+|nan|inf", line)[-3:])
        assert all(np.isfinite([wall, cpu, per_mol])) and min(wall, cpu, per_mol) >= 0
        assert abs(per_mol - cpu * 1e3 / 6) < 1.0  # µs per molecule = CPU ms / molecules (printed to 0.01 ms)
