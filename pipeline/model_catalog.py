"""Which models a user can pick, and what each one is (``bondiff models``; tracking layer).

* The **shipped** model (``pipeline/resources/model``): what ``--model`` left out loads. It is named
  ``bondiff-shipped@<hash>`` (the first 8 hex digits of ``sha256(weights.pt)``) and described from its
  training record plus the benchmark figures measured for exactly those weights
  (``pipeline/resources/shipped_benchmark.json``, keyed by the hash). :func:`register_shipped` puts it
  in the tracking store's Model Registry as a ``bondiff-denoiser`` version with alias ``@shipped``
  (once: a version whose ``weights_sha`` tag matches is reused). ``bondiff models`` does so by itself
  only in an empty registry, since a new version would change what ``--model latest`` means.
* **Registered** ``bondiff-denoiser`` versions: :func:`registered_models` lists them with aliases,
  description, the training run's dev-set figures and a *role* (shipped / quickstart demo / trained),
  so ``--model latest`` is never a silent surprise.

:func:`model_summary` describes a model reference as written in a generated SDF (``model_version``
or ``model``), without MLflow: the validation report's headline uses it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SHIPPED_ALIAS",
    "SHIPPED_NAME",
    "RegisteredModel",
    "describe_spec",
    "model_summary",
    "register_shipped",
    "registered_models",
    "shipped_benchmark",
    "shipped_description",
    "weights_hash",
]

SHIPPED_NAME = "bondiff-shipped"
SHIPPED_ALIAS = "shipped"
MODELS_EXPERIMENT = "bondiff-models"  # where the shipped model's registration run lives
_BENCHMARK_FILE = Path(__file__).resolve().parent / "resources" / "shipped_benchmark.json"
#: the training run's metrics shown as dev-set figures (validation split), in this order
DEV_METRICS = ("val_loss", "sample_valid_frac", "sample_bond_mae", "steps", "cpu_hours")


def _shipped_dir() -> Path:
    from pipeline.model.io import SHIPPED_MODEL_DIR

    return SHIPPED_MODEL_DIR


def weights_hash(model_dir: str | Path) -> str:
    """First 8 hex digits of the SHA-256 of ``weights.pt``: the short identity of a model's weights."""
    h = hashlib.sha256()
    with open(Path(model_dir) / "weights.pt", "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:8]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def shipped_benchmark(model_dir: str | Path | None = None) -> dict[str, Any]:
    """The benchmark figures recorded for the shipped weights ({} when these weights have none)."""
    d = Path(model_dir) if model_dir is not None else _shipped_dir()
    if not (d / "weights.pt").is_file():
        return {}
    return _read_json(_BENCHMARK_FILE).get(weights_hash(d), {})


def _pct(v: Any) -> str:
    return "–" if v is None else f"{100 * float(v):.1f} %"


def shipped_description(model_dir: str | Path | None = None) -> str:
    """Plain-text description of the shipped model: data, training compute, benchmark figures."""
    d = Path(model_dir) if model_dir is not None else _shipped_dir()
    rec = _read_json(d / "record.json")
    ds = _read_json(d / "training" / "dataset.json")
    summary = _read_json(d / "training" / "train_summary.json")
    counts = ds.get("counts", {})
    parts = [f"{SHIPPED_NAME}@{weights_hash(d)}: the model bondiff ships (pipeline/resources/model), used when no --model is given."]
    if rec.get("notes"):
        parts.append(f"Training: {rec['notes']}.")
    if counts:
        splits = ds.get("splits", {})
        parts.append(
            f"Data: {counts.get('molecules', '?')} molecules, {counts.get('conformers', '?')} conformers "
            f"(train {splits.get('train', '?')} / val {splits.get('val', '?')} / test {splits.get('test', '?')}), dataset {ds.get('dataset_hash', '?')}."
        )
    if rec:
        parts.append(f"Compute: {rec.get('steps', '?')} steps on {rec.get('device', '?')}; {rec.get('parameters', '?')} parameters.")
    fm = summary.get("metrics", rec.get("final_metrics", {}))
    if fm:
        parts.append(f"Dev set (val split): loss {fm.get('val_loss', float('nan')):.3g}, raw samples valid {_pct(fm.get('sample_valid_frac'))}, bond MAE {fm.get('sample_bond_mae', float('nan')):.3f} Å.")
    for key, b in shipped_benchmark(d).items():
        raw, mmff, ref = b.get("bondiff", {}), b.get("bondiff-mmff", {}), b.get("etkdg-mmff", {})
        parts.append(
            f"Benchmark {key} ({b.get('what', '')}): raw samples {_pct(raw.get('valid'))} valid; with --refine mmff "
            f"COV-R {_pct(mmff.get('COV-R_mean'))}, AMR-R {mmff.get('AMR-R_mean', float('nan')):.3f} Å, {_pct(mmff.get('valid'))} valid "
            f"(ETKDG+MMFF: COV-R {_pct(ref.get('COV-R_mean'))}, AMR-R {ref.get('AMR-R_mean', float('nan')):.3f} Å)."
        )
    parts.append("Raw samples (--refine none) are not yet force-field quality; the default, --refine mmff, relaxes them.")
    return " ".join(parts)


def describe_spec(info: dict[str, Any]) -> str:
    """One line from a model spec's ``info`` (training provenance the train stage records)."""
    bits = []
    if info.get("steps") is not None:
        bits.append(f"{int(info['steps'])} training steps")
    if info.get("init_from"):
        bits.append(f"fine-tuned from {info['init_from']}")
    if info.get("dataset"):
        bits.append(f"data: {_dataset_text(info)} (dataset {info.get('dataset_hash', '?')})")
    return ", ".join(bits)


def _dataset_text(info: dict[str, Any]) -> str:
    """'300 molecules from qm9_sample' from the spec's dataset recipe (a spec that recorded a path
    instead: from the manifest there, when it is at hand), else the dataset's name."""
    from pipeline.model.provenance import dataset_recipe

    path = Path(str(info["dataset"]))
    recipe = info.get("dataset_recipe") or dataset_recipe(_read_json(path / "manifest.json"))
    n, sources = recipe.get("molecules"), recipe.get("inputs") or []
    if n is None:
        return path.name
    return f"{n} molecules" + (f" from {', '.join(sources[:3])}" if sources else "")


@dataclass
class ModelSummary:
    """What a report headline says about the model that made a set of conformers."""

    label: str  # e.g. bondiff-shipped@5913d77c, models:/bondiff-denoiser/3, a path
    detail: str = ""  # training data / steps, when known
    demo: bool = False  # a short (quickstart-style) fine-tune: say so next to its numbers


def model_summary(ref: str | None) -> ModelSummary:
    """Describe the model named by a generated SDF's ``model`` / ``model_version`` property (no MLflow)."""
    if not ref:
        return ModelSummary("unknown (the SDF names no model)")
    text = str(ref)
    shipped = _shipped_dir()
    if text in ("shipped", SHIPPED_NAME) or text.startswith(f"{SHIPPED_NAME}@"):
        rec = _read_json(shipped / "record.json")
        ds = _read_json(shipped / "training" / "dataset.json")
        label = text if "@" in text else f"{SHIPPED_NAME}@{weights_hash(shipped)}" if (shipped / "weights.pt").is_file() else SHIPPED_NAME
        detail = f"the shipped model: {ds.get('counts', {}).get('molecules', '?')} molecules (MOSES drug-like + QM9), {rec.get('steps', '?')} CPU training steps"
        return ModelSummary(label, detail)
    path = Path(text.split("@", 1)[0]) if not text.startswith("models:/") else None
    if path is not None and (path / "spec.json").is_file():
        info = _read_json(path / "spec.json").get("info", {}) or {}
        steps = info.get("steps")
        return ModelSummary(text, describe_spec(info), demo=steps is not None and int(steps) < 1000)
    return ModelSummary(text)


# --- the Model Registry ---------------------------------------------------------------------------


@dataclass
class RegisteredModel:
    version: int
    aliases: list[str] = field(default_factory=list)
    description: str = ""
    role: str = "trained"  # shipped | quickstart demo | trained
    experiment: str = ""
    run_id: str = ""
    created: str = ""
    dev: dict[str, float] = field(default_factory=dict)  # DEV_METRICS of the training run, when known
    init_from: str = ""


def _role(tags: dict[str, str], experiment: str, run_name: str, params: dict[str, str]) -> str:
    if tags.get("source") == "shipped":
        return "shipped"
    if "quickstart" in experiment or "quickstart" in run_name or "quickstart" in params.get("name", ""):
        return "quickstart demo"
    return "trained"


def registered_models(client: Any, name: str | None = None) -> list[RegisteredModel]:
    """Every registered version of ``name`` (default ``bondiff-denoiser``), newest first."""
    import datetime

    from pipeline.registry import REGISTERED_NAME

    name = name or REGISTERED_NAME
    try:
        versions = client.search_model_versions(f"name='{name}'")
        aliases_of: dict[str, list[str]] = {}
        for alias, v in (client.get_registered_model(name).aliases or {}).items():
            aliases_of.setdefault(str(v), []).append(alias)
    except Exception as exc:  # no such registered model yet
        if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
            return []
        raise
    out = []
    for v in versions:
        tags = dict(v.tags or {})
        experiment = run_name = ""
        dev: dict[str, float] = {}
        params: dict[str, str] = {}
        if v.run_id:
            try:
                run = client.get_run(v.run_id)
                dev = {k: float(run.data.metrics[k]) for k in DEV_METRICS if k in run.data.metrics}
                params = dict(run.data.params)
                run_name = run.info.run_name or ""
                experiment = client.get_experiment(run.info.experiment_id).name
                parent = run.data.tags.get("mlflow.parentRunId")
                if parent:
                    run_name += " " + (client.get_run(parent).info.run_name or "")
            except Exception:  # a deleted run: the version is still usable
                pass
        created = datetime.datetime.fromtimestamp(v.creation_timestamp / 1000, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if v.creation_timestamp else ""
        out.append(
            RegisteredModel(
                version=int(v.version),
                aliases=sorted(aliases_of.get(str(v.version), [])),
                description=v.description or "",
                role=_role(tags, experiment, run_name, params),
                experiment=experiment,
                run_id=v.run_id or "",
                created=created,
                dev=dev,
                init_from=params.get("init_from", "") if params.get("init_from") not in (None, "None") else "",
            )
        )
    return sorted(out, key=lambda m: -m.version)


def register_shipped(client: Any, experiment: str = MODELS_EXPERIMENT) -> tuple[int, bool]:
    """Register the shipped model as a ``bondiff-denoiser`` version with alias ``@shipped``.

    Returns ``(version, created)``; a version whose ``weights_sha`` tag is the shipped weights' hash
    is reused (only the alias is set), so calling this again changes nothing.
    """
    import mlflow

    from pipeline.registry import REGISTERED_NAME, register_model, set_alias

    d = _shipped_dir()
    if not (d / "weights.pt").is_file():
        raise FileNotFoundError(f"no shipped model in {d}")
    sha = weights_hash(d)
    try:
        existing = [v for v in client.search_model_versions(f"name='{REGISTERED_NAME}'") if (v.tags or {}).get("weights_sha") == sha]
    except Exception:
        existing = []
    if existing:
        version = min(int(v.version) for v in existing)
        set_alias(version, SHIPPED_ALIAS)
        return version, False
    from pipeline.tracking import default_artifact_root

    exp = mlflow.get_experiment_by_name(experiment)
    uri = mlflow.get_tracking_uri()
    artifacts = default_artifact_root(None, uri) if uri.startswith("sqlite:") else None  # mlartifacts/ next to the store
    exp_id = exp.experiment_id if exp is not None else mlflow.create_experiment(experiment, artifact_location=artifacts)
    run = client.create_run(exp_id, run_name="shipped-model", tags={"source": "shipped"})
    rec = _read_json(d / "record.json")
    for k in ("steps", "train_molecules", "val_molecules", "parameters", "device"):
        if k in rec:
            client.log_param(run.info.run_id, k, rec[k])
    for k in DEV_METRICS:
        v = rec.get("final_metrics", {}).get(k, rec.get(k))
        if isinstance(v, (int, float)):
            client.log_metric(run.info.run_id, k, float(v))
    version = register_model(run.info.run_id, d, description=shipped_description(d), tags={"source": "shipped"})
    client.set_terminated(run.info.run_id)
    set_alias(version, SHIPPED_ALIAS)
    return version, True
