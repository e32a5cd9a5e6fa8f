"""`bondiff train` end to end: MLflow run with curves, registered model, models:/ round trip, errors."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("rdkit")
pytest.importorskip("mlflow")
from torch_geometric.data import Batch  # noqa: E402

from pipeline.cli import main  # noqa: E402
from pipeline.model.io import load_denoiser  # noqa: E402
from pipeline.prior.params import PriorParams  # noqa: E402
from pipeline.train.toydata import make_toy_dataset, write_prior_json  # noqa: E402


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("train-cli")
    ds = make_toy_dataset(root / "ds", ["CCO", "CC(=O)O", "C[C@H](N)C(=O)O"], n_confs=2, splits=["train", "train", "val"])
    return ds, write_prior_json(root / "prior", PriorParams())


def _args(ds, prior, out, repo_root, *extra):
    return [
        "train", "--dataset", str(ds), "--prior", str(prior), "--out", str(out),
        "--config", str(repo_root / "configs" / "train_tiny.yaml"),
        "--set", "max_steps=4", "--set", "log_every=2", "--set", "eval.every=2", "--set", "eval.sample_molecules=1",
        "--set", "eval.sampler.steps=3", "--set", "cpu_threads=1", "--device", "cpu", *extra,
    ]


def test_train_tracks_registers_and_loads_from_registry(inputs, tmp_path, mlflow_store, repo_root, capsys):
    import mlflow

    ds, prior = inputs
    out = tmp_path / "out"
    assert main(_args(ds, prior, out, repo_root)) == 0
    printed = capsys.readouterr().out
    assert "models:/bondiff-denoiser/1" in printed

    runs = mlflow.search_runs(experiment_names=["bondiff"], output_format="list")
    assert len(runs) == 1 and runs[0].data.tags["stage"] == "train"
    client = mlflow.tracking.MlflowClient()
    run_id = runs[0].info.run_id
    for key in ("loss", "lr", "grad_norm", "molecules_per_s", "val_loss", "sample_valid_frac", "loss_t0"):
        assert client.get_metric_history(run_id, key), f"metric {key} not logged"
    assert {m.step for m in client.get_metric_history(run_id, "loss")} >= {2, 4}  # every log_every=2 steps

    version = client.get_model_version("bondiff-denoiser", "1")
    assert version.run_id == run_id
    reg_model, reg_spec = load_denoiser("models:/bondiff-denoiser/1")
    dir_model, dir_spec = load_denoiser(out / "model")
    assert reg_spec == dir_spec and reg_spec.prior == PriorParams()
    graph = Batch.from_data_list([__import__("pipeline.model.features", fromlist=["featurize"]).featurize(
        __import__("pipeline.data.dataset", fromlist=["ConformerDataset"]).ConformerDataset(ds).molecule(0).to_rdkit(False), reg_spec.features)])
    x = torch.randn(graph.num_nodes, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(reg_model(x, torch.tensor([0.4]), graph), dir_model(x, torch.tensor([0.4]), graph))
    # 'latest' = the latest registered version in the tracking store (None is the shipped model)
    latest, _ = load_denoiser("latest")
    assert all(torch.equal(a, b) for a, b in zip(latest.state_dict().values(), dir_model.state_dict().values()))


def test_train_cli_user_errors(inputs, tmp_path, mlflow_store, repo_root, capsys):
    ds, prior = inputs
    assert main(_args(tmp_path / "nope", prior, tmp_path / "o", repo_root)) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(_args(ds, prior, tmp_path / "o", repo_root, "--set", "optim.lr=-1")) == 2
    assert "optim.lr" in capsys.readouterr().err


def test_train_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "--resume" in text and "torchrun" in text
