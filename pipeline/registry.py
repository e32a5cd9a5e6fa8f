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

from pathlib import Path
from typing import Any

__all__ = ["register_model", "set_alias", "REGISTERED_NAME", "DenoiserPyfunc"]

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


def register_model(run_id: str, model_dir: str | Path, name: str = REGISTERED_NAME) -> int:
    """Log ``model_dir`` as a pyfunc model in run ``run_id`` and register it; returns the version."""
    import json

    import mlflow

    model_dir = Path(model_dir)
    spec = json.loads((model_dir / "spec.json").read_text())
    with mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None):
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
    return int(version)


def set_alias(version: int, alias: str, name: str = REGISTERED_NAME) -> None:
    """Point ``models:/<name>@<alias>`` at ``version``."""
    import mlflow

    mlflow.tracking.MlflowClient().set_registered_model_alias(name, alias, str(version))
