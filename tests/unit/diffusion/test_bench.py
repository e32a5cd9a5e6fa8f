"""The sampler-step benchmark runs end to end on a small batch and prints wall and CPU figures."""

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


def test_bench_prints_wall_and_cpu_ms_for_every_step(capsys):
    assert main(["--molecules", "6", "--atoms", "12", "--repeats", "2", "--threads", "1", "--dtype", "float64"]) == 0
    out = capsys.readouterr().out
    assert "6 molecules" in out and "float64" in out and "torch threads 1" in out
    assert "CPU ms" in out
    for name in ["R z draw", *[f"step {m} " for m in SAMPLERS]]:
        line = next(ln for ln in out.splitlines() if ln.startswith(name))
        wall, cpu, per_mol = (float(v) for v in re.findall(r"\d+\.\d+", line)[-3:])
        assert wall > 0 and cpu >= 0
        assert abs(per_mol - cpu * 1e3 / 6) < 1.0  # µs per molecule = CPU ms / molecules (printed to 0.01 ms)
