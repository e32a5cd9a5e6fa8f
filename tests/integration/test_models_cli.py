"""``bondiff models``: the shipped model and registered versions, with roles and descriptions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.model.io import SHIPPED_MODEL_DIR

pytestmark = pytest.mark.skipif(not (SHIPPED_MODEL_DIR / "weights.pt").is_file(), reason="no shipped model in this checkout")


def test_models_without_a_store_lists_the_shipped_model_and_creates_nothing(tmp_path, monkeypatch, capsys):
    from pipeline.model_catalog import weights_hash

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert f"bondiff-shipped@{weights_hash(SHIPPED_MODEL_DIR)}" in out
    assert "no tracking store here" in out
    assert not (tmp_path / "mlflow.db").exists()


def test_register_shipped_once_then_list_says_which_is_latest(tmp_path, mlflow_store, capsys):
    import mlflow

    from pipeline.model.io import load_denoiser
    from pipeline.registry import register_model

    mlflow.set_experiment("some-other-experiment")  # an active experiment elsewhere must not get in the way
    assert main(["models", "register-shipped"]) == 0
    assert main(["models", "register-shipped"]) == 0  # idempotent: the weights hash is already registered
    out = capsys.readouterr().out
    assert "registered the shipped model as bondiff-denoiser version 1" in out and "already registered" in out
    client = mlflow.tracking.MlflowClient()
    versions = client.search_model_versions("name='bondiff-denoiser'")
    assert len(versions) == 1
    v1 = versions[0]
    assert {k: str(v) for k, v in client.get_registered_model("bondiff-denoiser").aliases.items()} == {"shipped": "1"}
    assert "Data:" in v1.description and "Compute:" in v1.description and "--refine mmff" in v1.description

    # a quickstart-style fine-tune registered after it: its description comes from the run, its role is 'demo'
    exp = mlflow.create_experiment("bondiff-quickstart")
    model_dir = shutil.copytree(SHIPPED_MODEL_DIR, tmp_path / "ft_model")
    with mlflow.start_run(experiment_id=exp, run_name="train") as run:
        mlflow.log_metrics({"val_loss": 9.5, "sample_valid_frac": 0.25, "steps": 150, "train_molecules": 240, "cpu_hours": 0.01})
    assert register_model(run.info.run_id, model_dir) == 2
    desc = client.get_model_version("bondiff-denoiser", "2").description
    assert "dev set: val_loss 9.5" in desc and "240 training molecules" in desc and "bondiff-quickstart" in desc

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    rows = [ln.split() for ln in out.splitlines() if "--model models:/" in ln]
    assert [r[0] for r in rows] == ["2", "1"]
    assert "@shipped" in rows[1] and "shipped" in rows[1][2]
    assert "quickstart" in rows[0] and "25.0%" in rows[0]
    assert "--model latest = version 2: a quickstart demo model (a short run of 150 steps" in out

    _, spec = load_denoiser("models:/bondiff-denoiser@shipped")
    assert spec.info.get("steps") == json.loads((SHIPPED_MODEL_DIR / "spec.json").read_text())["info"]["steps"]


def test_listing_registers_the_shipped_model_only_in_an_empty_registry(tmp_path, mlflow_store, capsys):
    import mlflow

    from pipeline.registry import register_model

    exp = mlflow.create_experiment("bondiff")
    with mlflow.start_run(experiment_id=exp) as run:
        pass
    register_model(run.info.run_id, shutil.copytree(SHIPPED_MODEL_DIR, tmp_path / "m"))
    assert main(["models"]) == 0  # a trained version exists: registering would change what 'latest' means
    out = capsys.readouterr().out
    assert "not in this registry" in out and "--model latest = version 1" in out
    assert len(mlflow.tracking.MlflowClient().search_model_versions("name='bondiff-denoiser'")) == 1


def test_listing_registers_the_shipped_model_in_an_empty_store(tmp_path, mlflow_store, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "registered the shipped model" in out and "--model latest = version 1: the shipped model" in out


def test_model_summary_names_shipped_and_flags_short_fine_tunes(tmp_path):
    import json

    from pipeline.model_catalog import model_summary, weights_hash

    s = model_summary("shipped")
    assert s.label == f"bondiff-shipped@{weights_hash(SHIPPED_MODEL_DIR)}" and "shipped" in s.detail and not s.demo
    d = shutil.copytree(SHIPPED_MODEL_DIR, tmp_path / "m")
    spec = json.loads((d / "spec.json").read_text())
    spec["info"] = {"steps": 150, "init_from": "shipped", "dataset": "/x/qm9_sample", "dataset_hash": "abc"}
    (d / "spec.json").write_text(json.dumps(spec))
    s = model_summary(str(d))
    assert s.demo and "150 training steps" in s.detail and "fine-tuned from shipped" in s.detail
    assert model_summary(None).label.startswith("unknown")
