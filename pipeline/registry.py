"""MLflow Model Registry for the denoiser (tracking layer; stages never import this).

``register_model(run_id, model_dir)`` logs the model dir (``spec.json`` + ``weights.pt``: network,
features, prior parameters, schedule — everything ``sample`` needs) as an MLflow **pyfunc** model
in the run and registers it as ``bondiff-denoiser``; returns the new version number. The pyfunc's
``predict`` takes a DataFrame with a ``smiles`` column (optional ``num_confs``, ``seed``) and
returns one row per generated conformer with its MolBlock, using ``pipeline.api`` when present.

``pipeline.model.io.load_denoiser("models:/bondiff-denoiser/<version>")`` (or ``@alias``) loads it
back with nothing but the tracking store.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Iterator

__all__ = ["register_model", "describe_version", "set_alias", "REGISTERED_NAME", "DenoiserPyfunc"]

log = logging.getLogger(__name__)
REGISTERED_NAME = "bondiff-denoiser"
_ARTIFACT_KEY = "model_dir"


def _pyfunc_base():
    import mlflow.pyfunc

    return mlflow.pyfunc.PythonModel


def _make_pyfunc_class():
    base = _pyfunc_base()

    class DenoiserPyfunc(base):  # type: ignore[misc, valid-type]
        """SMILES in, conformers (MolBlocks) out; the weights are the ``model_dir`` artifact."""

        def load_context(self, context):
            self.model_dir = context.artifacts[_ARTIFACT_KEY]

        def predict(self, context, model_input, params=None):
            import pandas as pd

            try:
                from pipeline.api import generate_conformers
            except ImportError as exc:  # the API module belongs to the sampling area
                raise RuntimeError("pipeline.api.generate_conformers is not available in this installation") from exc
            from rdkit import Chem

            rows = []
            for _, rec in model_input.iterrows():
                n = int(rec.get("num_confs", 1) or 1)
                seed = int(rec.get("seed", 0) or 0)
                mol = generate_conformers(rec["smiles"], num_confs=n, seed=seed, model=self.model_dir)
                for conf in mol.GetConformers():
                    rows.append({"smiles": rec["smiles"], "conformer": conf.GetId(), "molblock": Chem.MolToMolBlock(mol, confId=conf.GetId())})
            return pd.DataFrame(rows, columns=["smiles", "conformer", "molblock"])

    return DenoiserPyfunc


def __getattr__(name: str) -> Any:
    if name == "DenoiserPyfunc":
        return _make_pyfunc_class()
    raise AttributeError(name)


def _signature():
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    inputs = Schema([ColSpec("string", "smiles"), ColSpec("long", "num_confs", required=False), ColSpec("long", "seed", required=False)])
    outputs = Schema([ColSpec("string", "smiles"), ColSpec("long", "conformer"), ColSpec("string", "molblock")])
    return ModelSignature(inputs=inputs, outputs=outputs)


@contextlib.contextmanager
def _in_experiment_of(run_id: str) -> Iterator[None]:
    """Make the run's experiment the active one for the block: MLflow refuses to resume a run of another
    experiment than the active one (set_experiment elsewhere, $MLFLOW_EXPERIMENT_NAME); restored afterwards."""
    import mlflow
    from mlflow.tracking import fluent

    wanted = mlflow.tracking.MlflowClient().get_run(run_id).info.experiment_id
    before = getattr(fluent, "_active_experiment_id", None)
    if before is None or before == wanted:
        yield
        return
    mlflow.set_experiment(experiment_id=wanted)
    try:
        yield
    finally:
        mlflow.set_experiment(experiment_id=before)


def register_model(run_id: str, model_dir: str | Path, name: str = REGISTERED_NAME, *, description: str | None = None, tags: dict[str, str] | None = None) -> int:
    """Log ``model_dir`` as a pyfunc model in run ``run_id`` and register it; returns the version.

    The version gets a description (default: :func:`describe_version`, from the spec's training
    record and the run's dev-set metrics) and tags ``schedule``, ``size``, ``weights_sha`` (+ ``tags``).
    """
    import json

    import mlflow

    from pipeline.model_catalog import weights_hash

    model_dir = Path(model_dir)
    spec = json.loads((model_dir / "spec.json").read_text())
    with _in_experiment_of(run_id), mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None):
        info = mlflow.pyfunc.log_model(
            name="denoiser",
            python_model=_make_pyfunc_class()(),
            artifacts={_ARTIFACT_KEY: str(model_dir)},
            signature=_signature(),
            registered_model_name=name,
            metadata={"bondiff_spec": spec},
            pip_requirements=["bondiff", "torch", "e3nn", "torch-geometric", "rdkit"],
        )
    version = info.registered_model_version
    if version is None:  # older MLflow: look it up
        client = mlflow.tracking.MlflowClient()
        versions = [v for v in client.search_model_versions(f"name='{name}'") if v.run_id == run_id]
        version = max(int(v.version) for v in versions)
    client = mlflow.tracking.MlflowClient()
    client.set_model_version_tag(name, str(version), "schedule", spec["schedule"]["name"])
    client.set_model_version_tag(name, str(version), "size", spec.get("size", ""))
    client.set_model_version_tag(name, str(version), "weights_sha", weights_hash(model_dir))
    for k, v in (tags or {}).items():
        client.set_model_version_tag(name, str(version), k, v)
    text = description if description is not None else describe_version(client, run_id, spec)
    client.update_model_version(name, str(version), description=text)
    log.info("registered %s version %s", name, version)
    return int(version)


def describe_version(client, run_id: str, spec: dict) -> str:
    """Description of a trained version: data, training compute, dev-set figures of its run."""
    from pipeline.model_catalog import DEV_METRICS, describe_spec

    parts = [f"bondiff-denoiser ({spec.get('size', '?')} network, {spec.get('schedule', {}).get('name', '?')} schedule)"]
    info = spec.get("info") or {}
    if describe_spec(info):
        parts.append(describe_spec(info))
    try:
        run = client.get_run(run_id)
        m = run.data.metrics
        exp = client.get_experiment(run.info.experiment_id).name
    except Exception:  # the description is a courtesy: never fail a registration over it
        m, exp = {}, ""
    if "train_molecules" in m:
        parts.append(f"{int(m['train_molecules'])} training molecules")
    if "cpu_hours" in m:
        parts.append(f"{m['cpu_hours']:.2f} CPU-hours")
    dev = [f"{k} {m[k]:.4g}" for k in DEV_METRICS if k in m and k not in ("steps", "cpu_hours")]
    if dev:
        parts.append("dev set: " + ", ".join(dev))
    if exp:
        parts.append(f"experiment {exp}, run {run_id}")
    return "; ".join(parts) + "."


def set_alias(version: int, alias: str, name: str = REGISTERED_NAME) -> None:
    """Point ``models:/<name>@<alias>`` at ``version``."""
    import mlflow

    mlflow.tracking.MlflowClient().set_registered_model_alias(name, alias, str(version))
