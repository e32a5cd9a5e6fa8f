"""The training-throughput benchmark measures wall and CPU throughput over the timed steps only."""

from __future__ import annotations

import pytest

pytest.importorskip("rdkit")
from pipeline.prior.params import PriorParams  # noqa: E402
from pipeline.train.bench import _bench_one  # noqa: E402
from pipeline.train.toydata import make_toy_dataset, write_prior_json  # noqa: E402


def test_bench_one_reports_wall_and_cpu_throughput(tmp_path):
    ds = make_toy_dataset(tmp_path / "ds", ["CCO", "CC(=O)O"], n_confs=1)
    prior = write_prior_json(tmp_path / "prior", PriorParams())
    row = _bench_one("tiny", ds, prior, tmp_path / "out", steps=2, warmup=1, atom_budget=64, device="cpu", threads=1)
    assert row["size"] == "tiny" and row["device"] == "cpu" and row["params"] > 1000
    assert row["mol_per_s"] > 0 and row["cpu_s"] > 0
    # 2 timed steps of at most 64 atoms: ethanol has 9 atoms, acetic acid 8, so 7 molecules per step
    assert row["molecules"] == 2 * 7
    assert row["mol_per_cpu_s"] == pytest.approx(row["molecules"] / row["cpu_s"])
