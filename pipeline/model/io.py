"""Save and load denoisers.

A *model dir* holds ``spec.json`` (:class:`ModelSpec`) and ``weights.pt`` (a plain ``state_dict``,
loaded with ``weights_only=True``). :func:`load_denoiser` accepts

* a model dir;
* a training checkpoint file (``*.pt`` written by ``pipeline.train.checkpoint``; its EMA weights are used);
* ``models:/bondiff-denoiser/<version>`` or ``models:/bondiff-denoiser@<alias>`` (MLflow, imported lazily;
  the registered model's artifacts contain the model dir);
* ``"latest"``: the latest registered ``bondiff-denoiser`` version of the tracking store;
* ``None``: the model shipped in ``pipeline/resources/model/`` (a model trained by a quickstart or
  any other run never replaces it silently: pass ``latest`` or a ``models:/`` URI to use those).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from pipeline.model.spec import ModelSpec

__all__ = ["save_model", "load_denoiser", "load_model_dir", "REGISTERED_NAME", "SHIPPED_MODEL_DIR", "V1_MODEL_DIR", "find_model_dir"]

REGISTERED_NAME = "bondiff-denoiser"
LATEST = "latest"  # model ref meaning the latest registered version
SHIPPED_MODEL_DIR = Path(__file__).resolve().parents[1] / "resources" / "model"
#: the first model bondiff shipped (e3nn, 2,600 CPU steps); still loadable: ``--model <this dir>``
V1_MODEL_DIR = SHIPPED_MODEL_DIR.parent / "model_v1"
SPEC_FILE = "spec.json"
WEIGHTS_FILE = "weights.pt"


def save_model(directory: str | Path, model: torch.nn.Module, spec: ModelSpec) -> Path:
    """Write ``spec.json`` + ``weights.pt`` atomically (temp dir + rename); returns the dir."""
    from pipeline.atomic import write_dir_atomic

    def build(tmp: Path) -> None:
        (tmp / SPEC_FILE).write_text(json.dumps(spec.model_dump(mode="json"), indent=2) + "\n")
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp / WEIGHTS_FILE)

    return write_dir_atomic(directory, build)


def _build(spec: ModelSpec, state: dict, device: str | torch.device):
    from pipeline.model.precond import build_denoiser

    model = build_denoiser(spec)
    model.load_state_dict(state)
    return model.to(device).eval()


def load_model_dir(directory: str | Path, device: str | torch.device = "cpu"):
    d = Path(directory)
    spec = ModelSpec.model_validate_json((d / SPEC_FILE).read_text())
    state = torch.load(d / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    return _build(spec, state, device), spec


def load_checkpoint_file(path: str | Path, device: str | torch.device = "cpu", meta: dict | None = None):
    """``(model, spec)`` from a training checkpoint (its EMA weights when it has them); ``meta``, when given,
    receives the checkpoint's ``step``."""
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "spec" not in ckpt or "model" not in ckpt:
        raise ValueError(f"{path} is not a bondiff checkpoint (needs 'spec' and 'model')")
    if meta is not None:
        meta["step"] = ckpt.get("step")
    spec = ModelSpec.model_validate(json.loads(ckpt["spec"]) if isinstance(ckpt["spec"], str) else ckpt["spec"])
    state = ckpt.get("ema") or ckpt["model"]
    return _build(spec, state, device), spec


def find_model_dir(root: str | Path) -> Path:
    """The directory under ``root`` (or ``root`` itself) that holds ``spec.json``."""
    root = Path(root)
    if (root / SPEC_FILE).is_file():
        return root
    hits = sorted(p.parent for p in root.rglob(SPEC_FILE))
    if not hits:
        raise FileNotFoundError(f"no {SPEC_FILE} under {root}")
    return hits[0]


def _registry_store_available() -> bool:
    """True when a tracking store is configured or ./mlflow.db exists (never creates one)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return True
    return Path("mlflow.db").is_file()


def _download_registered(uri: str) -> Path:
    import mlflow

    if not os.environ.get("MLFLOW_TRACKING_URI") and Path("mlflow.db").is_file():
        mlflow.set_tracking_uri(f"sqlite:///{Path('mlflow.db').resolve()}")
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
    return find_model_dir(local)


def _latest_registered_uri() -> str | None:
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError:
        return None
    if not _registry_store_available():
        return None
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        mlflow.set_tracking_uri(f"sqlite:///{Path('mlflow.db').resolve()}")
    try:
        versions = MlflowClient().search_model_versions(f"name='{REGISTERED_NAME}'")
    except Exception:  # store without a registry / no such model: the caller reports "nothing registered"
        return None
    if not versions:
        return None
    latest = max(versions, key=lambda v: int(v.version))
    return f"models:/{REGISTERED_NAME}/{latest.version}"


class NotAModelError(ValueError):
    """A file or folder that does not load as a bondiff model; the message names it and says why in one line."""


def load_denoiser_checked(ref: str | Path | None = None, device: str | torch.device = "cpu", meta: dict | None = None):
    """:func:`load_denoiser` for a reference a user typed: a missing one raises ``FileNotFoundError`` as
    there, and anything else that fails to load (a torch / pickle / JSON error, a file that is not a bondiff
    checkpoint) :class:`NotAModelError` ``"REF: not a bondiff model folder or checkpoint (why)"``."""
    try:
        return load_denoiser(ref, device, meta)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 — whatever the file is, the user gets one line
        why = type(exc).__name__
        if "pickl" not in why.lower() and str(exc).strip():  # torch's unpickling advice is not for this user
            why += ": " + str(exc).strip().splitlines()[0][:160]
        raise NotAModelError(f"{ref}: not a bondiff model folder or checkpoint ({why})") from None


def load_denoiser(ref: str | Path | None = None, device: str | torch.device = "cpu", meta: dict | None = None):
    """Load ``(model, spec)`` from ``ref`` (see module docstring); the model is in eval mode on ``device``.
    ``meta``, when given, receives what the source says about the weights (a checkpoint's ``step``)."""
    if ref is None:
        if (SHIPPED_MODEL_DIR / SPEC_FILE).is_file():
            return load_model_dir(SHIPPED_MODEL_DIR, device)
        raise FileNotFoundError(
            f"no model given and no shipped model in {SHIPPED_MODEL_DIR}; train one with `bondiff train` "
            "or pass --model DIR|CHECKPOINT|models:/...|latest"
        )
    if str(ref) == LATEST:
        uri = _latest_registered_uri()
        if uri is None:
            raise FileNotFoundError(f"--model latest: no registered {REGISTERED_NAME!r} in the tracking store")
        return load_model_dir(_download_registered(uri), device)
    text = str(ref)
    if text.startswith("models:/"):
        return load_model_dir(_download_registered(text), device)
    path = Path(text)
    if path.is_dir():
        return load_model_dir(find_model_dir(path), device)
    if path.is_file():
        return load_checkpoint_file(path, device, meta)
    raise FileNotFoundError(f"model {text!r}: not a model dir, checkpoint file or models:/ URI")
