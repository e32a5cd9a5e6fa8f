"""python -m pipeline.model.package: a trained model + its record, loadable like the shipped model."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("rdkit")
from pipeline.model.io import load_denoiser  # noqa: E402
from pipeline.model.package import main, package_model  # noqa: E402
from pipeline.prior.params import PriorParams  # noqa: E402
from pipeline.train.config import TrainConfig  # noqa: E402
from pipeline.train.stage import run_train  # noqa: E402
from pipeline.train.toydata import make_toy_dataset, write_prior_json  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("pkg")
    ds = make_toy_dataset(root / "ds", ["CCO", "CC(=O)O"], n_confs=2, splits=["train", "val"])
    prior = write_prior_json(root / "prior", PriorParams())
    cfg = TrainConfig(max_steps=3, log_every=1, cpu_threads=1, eval={"every": 0, "sample_molecules": 0})
    run_train(cfg, ds, prior, root / "out")
    return root / "out"


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_package_round_trip_and_record(trained, tmp_path, capsys):
    assert main([str(trained), str(tmp_path / "m")]) == 0
    assert "packaged" in capsys.readouterr().out
    dest = tmp_path / "m"
    orig, spec0 = load_denoiser(trained / "model")
    packed, spec1 = load_denoiser(dest)
    assert spec0 == spec1 and _same(orig, packed)
    record = json.loads((dest / "record.json").read_text())
    assert record["steps"] == 3 and record["parameters"] > 0 and record["weights_dtype"] == "float32"
    assert record["dataset_hash"] == spec0.info["dataset_hash"]
    files = {p.name for p in (dest / "training").iterdir()}
    assert {"train_summary.json", "metrics.csv", "training_curves.png", "prior.json", "dataset.json"} <= files
    assert not (dest / "checkpoints").exists() and not (dest / "cache").exists()


def test_bf16_halves_the_weights_and_still_loads(trained, tmp_path):
    full = package_model(trained, tmp_path / "f32")
    half = package_model(trained, tmp_path / "bf16", bf16=True)
    assert (half / "weights.pt").stat().st_size < (full / "weights.pt").stat().st_size
    a, _ = load_denoiser(full)
    b, _ = load_denoiser(half)
    for x, y in zip(a.state_dict().values(), b.state_dict().values()):
        if x.is_floating_point():
            assert y.dtype == torch.float32 and torch.allclose(x, y, rtol=1e-2, atol=1e-2)


def test_unfinished_output_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no spec.json"):
        package_model(tmp_path, tmp_path / "x")
