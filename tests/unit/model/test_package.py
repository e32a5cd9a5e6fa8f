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


def _strings(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)
    elif isinstance(obj, str):
        yield obj


def _absolute(spec: dict) -> list[str]:
    return [s for s in _strings(spec) if s.startswith("/") or (len(s) > 2 and s[1:3] in (":\\", ":/"))]


def test_a_written_spec_names_its_inputs_by_name_and_hash_not_path(trained, tmp_path):
    from pipeline.hashing import file_hash

    root = trained.parent
    spec = json.loads((trained / "model" / "spec.json").read_text())
    assert _absolute(spec) == []
    info = spec["info"]
    assert info["dataset"] == "ds" and info["prior"] == "prior"
    assert info["dataset_hash"] == json.loads((root / "ds" / "manifest.json").read_text())["dataset_hash"]
    assert info["prior_hash"] == file_hash(root / "prior" / "prior.json")
    assert info["dataset_recipe"]["molecules"] == 2
    # the machine paths stay in the train output, where packaging reads them
    assert json.loads((trained / "inputs.json").read_text()) == {"dataset": str((root / "ds").resolve()), "prior": str((root / "prior").resolve())}
    dest = package_model(trained, tmp_path / "m")
    packed = json.loads((dest / "spec.json").read_text())
    assert _absolute(packed) == [] and packed["info"] == info
    for name in ("dataset.json", "prior.json"):  # the records packaged beside it name files, too
        assert _absolute(json.loads((dest / "training" / name).read_text())) == []
    assert json.loads((dest / "training" / "dataset.json").read_text())["dataset_hash"] == info["dataset_hash"]


def test_packaging_an_older_output_replaces_its_spec_paths_by_names(trained, tmp_path):
    import shutil

    old = shutil.copytree(trained, tmp_path / "old")
    (old / "inputs.json").unlink()
    spec = json.loads((old / "model" / "spec.json").read_text())
    new_info = spec["info"]
    root = trained.parent.resolve()
    spec["info"] = {"dataset_hash": new_info["dataset_hash"], "dataset": str(root / "ds"), "prior": str(root / "prior"), "steps": 3}
    (old / "model" / "spec.json").write_text(json.dumps(spec))
    dest = package_model(old, tmp_path / "m")
    packed = json.loads((dest / "spec.json").read_text())
    assert _absolute(packed) == []
    assert packed["info"] == {**{k: new_info[k] for k in ("dataset", "dataset_hash", "dataset_recipe", "prior", "prior_hash")}, "steps": 3}
    assert {"prior.json", "dataset.json"} <= {p.name for p in (dest / "training").iterdir()}


def test_the_shipped_spec_holds_no_machine_path():
    from pipeline.model.io import SHIPPED_MODEL_DIR

    spec = json.loads((SHIPPED_MODEL_DIR / "spec.json").read_text())
    assert _absolute(spec) == [] and spec["info"]["dataset_hash"] and spec["info"]["prior_hash"]
    dataset = json.loads((SHIPPED_MODEL_DIR / "training" / "dataset.json").read_text())
    assert _absolute(dataset) == [] and dataset["dataset_hash"] == spec["info"]["dataset_hash"]
    # the prior is identified by its key; a campaign keeps its prior while the training set grows, so the
    # prior's own dataset hash may name an earlier version of the set
    prior = json.loads((SHIPPED_MODEL_DIR / "training" / "prior.json").read_text())
    assert _absolute(prior) == [] and prior["dataset_hash"] and prior["key"] == spec["info"]["prior_hash"]


def test_a_model_description_reads_the_recorded_recipe_where_the_data_are_not_at_hand():
    from pipeline.model_catalog import describe_spec

    info = {"steps": 10, "dataset": "train", "dataset_hash": "abc", "dataset_recipe": {"made_by": "merge", "inputs": ["drugs", "qm9"], "molecules": 12}}
    assert describe_spec(info) == "10 training steps, data: 12 molecules from drugs, qm9 (dataset abc)"
    assert describe_spec({**info, "dataset_recipe": {"made_by": "unknown"}}) == "10 training steps, data: train (dataset abc)"


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
