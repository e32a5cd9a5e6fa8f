"""The GPU stretch round trip on CPU: pack -> the job (RDKit, MLflow, pydantic blocked) -> import -> CPU resume.

Same code path as on a lent GPU except the device: a typo costs a test failure here, not device minutes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")
from pipeline.cli import main as cli  # noqa: E402
from pipeline.data.dataset import ConformerDataset  # noqa: E402
from pipeline.model.spec import ModelSpec  # noqa: E402
from pipeline.prior.params import PriorParams  # noqa: E402
from pipeline.train.bundle import BundleError, pack_bundle, read_bundle  # noqa: E402
from pipeline.train.checkpoint import load_checkpoint  # noqa: E402
from pipeline.train.config import TrainConfig  # noqa: E402
from pipeline.train.data import load_records  # noqa: E402
from pipeline.train.history import read_history  # noqa: E402
from pipeline.train.stage import run_train  # noqa: E402
from pipeline.train.toydata import make_toy_dataset, write_prior_json  # noqa: E402
from pipeline.types import NullLogger  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# E/Z stereo, a stereocentre, an aromatic ring (Kekulé in the dataset, aromatic in the graph), a val molecule
SMILES = ["CCO", "C/C=C/Cl", "C[C@H](N)C(=O)O", "Oc1ccccc1", "CC(=O)O"]
SPLITS = ["train", "train", "train", "train", "val"]
CKPT_STEP, GPU_STEPS = 4, 3

# the job as the lent machine runs it, with the three packages it does not have made unimportable
JOB = """
import sys
for name in ("rdkit", "mlflow", "pydantic"):
    sys.modules[name] = None
from pipeline.train.gpu_job import main
rc = main(sys.argv[1:])
leaked = sorted(m for m, v in sys.modules.items() if v is not None and m.split(".")[0] in ("rdkit", "mlflow", "pydantic"))
print("LEAKED", leaked)
sys.exit(rc)
"""


class Stop(Exception):
    pass


class StopAt(NullLogger):
    """Records the logged steps; 'crashes' the run when asked to log ``step``."""

    def __init__(self, step: int):
        self.step, self.steps = step, []

    def log_metrics(self, metrics, step=None):
        self.steps.append(step)
        if step == self.step:
            raise Stop(step)


def _cfg() -> TrainConfig:
    return TrainConfig(
        max_steps=50, checkpoint_every=2, log_every=1, atom_budget=20, size_window=8, cpu_threads=1, seed=3,
        model={"net": {"kind": "pairnet", "preset": "tiny"}},
        optim={"warmup_steps": 3, "lr": 3e-3, "ema_decay": 0.9},
        eval={"every": 0, "sample_molecules": 1, "sampler": {"method": "ddim", "steps": 3}},
    )


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """A CPU training folder whose checkpoint is at step 4 (of a 50-step schedule), its bundle and the GPU job's output."""
    root = tmp_path_factory.mktemp("gpu")
    ds = make_toy_dataset(root / "ds", SMILES, n_confs=2, splits=SPLITS)
    prior = write_prior_json(root / "prior", PriorParams())
    with pytest.raises(Stop):
        run_train(_cfg(), ds, prior, root / "train", StopAt(CKPT_STEP + 1))
    ckpt = root / "train" / "checkpoints" / "last.pt"
    assert load_checkpoint(ckpt)["step"] == CKPT_STEP
    meta = pack_bundle(ds, prior, ckpt, root / "bundle", max_bytes=2**20, cache_dir=root / "train" / "cache")
    out = root / "out"
    args = ["--bundle", str(root / "bundle"), "--out", str(out), "--device", "cpu", "--max-steps", str(GPU_STEPS),
            "--atom-budget", "40", "--wall-s", "300", "--workers", "2"]
    proc = subprocess.run([sys.executable, "-c", JOB, *args], capture_output=True, text=True, cwd=REPO, timeout=300)
    return {"root": root, "ds": ds, "prior": prior, "ckpt": ckpt, "meta": meta, "out": out, "proc": proc, "args": args}


def test_bundle_rebuilds_the_featurized_records(packed):
    bundle = read_bundle(packed["root"] / "bundle")
    ds = ConformerDataset(packed["ds"])
    spec = ModelSpec.model_validate(bundle.spec)
    ref, _ = load_records(ds, ds.split_indices("train"), spec.features, PriorParams(), 256)
    assert [r.index for r in bundle.train] == [r.index for r in ref] and len(bundle.val) == 1
    assert any(int(b[2]) == 12 for r in bundle.train for b in r.graph.bonds.tolist())  # aromatic bonds rebuilt
    assert any(bool((r.graph.pair_stereo > 0).any()) for r in bundle.train)  # E/Z pairs rebuilt
    for a, b in zip(ref, bundle.train):
        for key in ("x", "chirality", "atomic_numbers", "canonical_rank", "pair_hops", "pair_bond", "pair_stereo"):
            assert torch.equal(getattr(a.graph, key), getattr(b.graph, key)), key
        for key in ("pair_lower", "pair_upper"):  # float16: 2^-11 relative
            assert torch.allclose(getattr(a.graph, key), getattr(b.graph, key), rtol=1e-3, atol=1e-4), key
        assert np.array_equal(a.coords, b.coords)
        assert np.allclose(a.R @ a.R.T, b.R @ b.R.T, atol=1e-8) and np.allclose(a.eigvals, b.eigvals)


def test_bundle_refuses_another_dataset_or_network_and_fits_its_budget(packed, tmp_path):
    other = make_toy_dataset(tmp_path / "other", ["CCO", "CCN"], n_confs=1)
    with pytest.raises(BundleError, match="pack the bundle again"):
        read_bundle(packed["root"] / "bundle", other)
    full = packed["meta"]["bytes"]
    tight = full["checkpoint"] + int(full["features"] * 0.8)  # not all molecules fit: a seeded subset
    metas = [pack_bundle(packed["ds"], packed["prior"], packed["ckpt"], tmp_path / f"b{i}", tight, seed=5,
                         cache_dir=packed["root"] / "train" / "cache") for i in range(2)]
    assert 0 < metas[0]["subset"]["train_molecules"] < metas[0]["subset"]["of_train_molecules"] == 4
    assert metas[0]["bytes"]["features"] + metas[0]["bytes"]["checkpoint"] <= tight
    assert metas[0]["train_indices_sha256"] == metas[1]["train_indices_sha256"]  # the same seed, the same subset
    state = load_checkpoint(packed["ckpt"])
    state["model"].pop(next(iter(state["model"])))  # a checkpoint of another version of the network
    torch.save(state, tmp_path / "other.pt")
    with pytest.raises(BundleError, match="does not load into this code's pairnet network"):
        pack_bundle(packed["ds"], packed["prior"], tmp_path / "other.pt", tmp_path / "b8", 2**20, cache_dir=packed["root"] / "train" / "cache")
    with pytest.raises(BundleError, match="cannot fit"):
        pack_bundle(packed["ds"], packed["prior"], packed["ckpt"], tmp_path / "b9", full["checkpoint"] + 10,
                    cache_dir=packed["root"] / "train" / "cache")


def test_bundle_resolves_an_older_checkpoint_config_with_this_code(packed, tmp_path):
    # a campaign checkpoint written before a config field existed: the GPU job (no pydantic) reads every
    # field as an attribute, so the bundle must carry the config with today's defaults filled in
    state = load_checkpoint(packed["ckpt"])
    config = json.loads(state["config"])
    for key in ("corrector_passes", "corrector_noise", "corrector_noise_min"):
        del config["eval"]["sampler"][key]
    state["config"] = json.dumps(config)
    torch.save(state, tmp_path / "old.pt")
    pack_bundle(packed["ds"], packed["prior"], tmp_path / "old.pt", tmp_path / "b", 2**20, cache_dir=packed["root"] / "train" / "cache")
    sampler = read_bundle(tmp_path / "b").config["eval"]["sampler"]
    assert sampler["corrector_passes"] == 0 and sampler["method"] == config["eval"]["sampler"]["method"]


def test_job_runs_without_rdkit_mlflow_pydantic(packed):
    proc, out = packed["proc"], packed["out"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LEAKED []" in proc.stdout
    summary = json.loads((out / "gpu_summary.json").read_text())
    assert summary["complete"] and summary["from_step"] == CKPT_STEP and summary["to_step"] == CKPT_STEP + GPU_STEPS
    assert summary["atom_budget"] == 40 and "val_loss" in summary["metrics"]
    state = load_checkpoint(out / "last.pt")
    assert state["step"] == CKPT_STEP + GPU_STEPS and state["atom_budget"] == 40
    assert json.loads(state["config"])["atom_budget"] == 20  # the campaign's config travels back unchanged
    assert state["gpu_stretches"][-1]["to_step"] == CKPT_STEP + GPU_STEPS
    ema = load_checkpoint(out / "ema_bf16.pt")
    assert ema["step"] == state["step"] and all(v.dtype == torch.bfloat16 for v in ema["ema"].values() if v.is_floating_point())
    steps = sorted({s for pts in read_history(out / "metrics.csv").values() for s, _ in pts})
    assert steps == list(range(CKPT_STEP + 1, CKPT_STEP + GPU_STEPS + 1))


def test_prefetch_changes_nothing(packed, tmp_path):
    """The job's batches are collated by worker processes by default; collated in the loop, the weights are bit-identical."""
    args = [a if a != str(packed["out"]) else str(tmp_path / "out") for a in packed["args"]] + ["--workers", "0"]
    proc = subprocess.run([sys.executable, "-c", JOB, *args], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = load_checkpoint(packed["out"] / "last.pt"), load_checkpoint(tmp_path / "out" / "last.pt")
    assert a["step"] == b["step"] and a["epoch"] == b["epoch"] >= 1  # the steps crossed an epoch boundary
    for key in ("model", "ema"):
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name}"


def test_import_then_cpu_resume(packed, tmp_path, mlflow_store):
    train = tmp_path / "train"
    shutil.copytree(packed["root"] / "train", train)
    out = packed["out"]
    assert cli(["gpu", "import", "--from", str(out), "--into", str(train), "--experiment", "gpu-test"]) == 0
    assert load_checkpoint(train / "checkpoints" / "last.pt")["step"] == CKPT_STEP + GPU_STEPS
    summary = json.loads((train / "train_summary.json").read_text())
    assert summary["steps"] == CKPT_STEP + GPU_STEPS and summary["gpu_stretches"][0]["from_step"] == CKPT_STEP
    hist = read_history(train / "metrics.csv")
    assert [s for s, _ in hist["loss"]] == list(range(1, CKPT_STEP + GPU_STEPS + 1))  # CPU rows, then the GPU's
    assert json.loads((train / "model" / "spec.json").read_text())["info"]["steps"] == CKPT_STEP + GPU_STEPS
    import mlflow

    (run,) = mlflow.search_runs(experiment_names=["gpu-test"], output_format="list")
    assert run.data.tags["device"] == "cpu"
    losses = mlflow.tracking.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert sorted(m.step for m in losses) == list(range(CKPT_STEP + 1, CKPT_STEP + GPU_STEPS + 1))
    assert cli(["gpu", "import", "--from", str(out), "--into", str(train), "--no-track"]) == 1  # already imported

    # the CPU resumes where the GPU stopped (its 40-atom epoch position rescaled to the 20-atom plan)
    logger = StopAt(-1)
    result = run_train(_cfg().model_copy(update={"max_steps": CKPT_STEP + GPU_STEPS + 2}), packed["ds"], packed["prior"], train,
                       logger, resume=True)
    assert logger.steps[0] == CKPT_STEP + GPU_STEPS + 1 and result.metrics["steps"] == CKPT_STEP + GPU_STEPS + 2
    assert json.loads((train / "train_summary.json").read_text())["gpu_stretches"][0]["to_step"] == CKPT_STEP + GPU_STEPS
    # the training folder has moved on: that GPU run can no longer replace its checkpoint
    assert cli(["gpu", "import", "--from", str(out), "--into", str(train), "--no-track"]) == 1
