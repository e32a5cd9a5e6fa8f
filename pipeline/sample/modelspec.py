"""What sampling needs from a model: its limits, prior and schedule (``ModelSpec`` access in one place),
the torch device, and the model's identity written into every SDF record (``model`` property)."""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["spec_max_atoms", "spec_prior_params", "spec_schedule", "resolve_device", "weights_hash", "model_label"]


def _spec_get(spec: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        v = getattr(spec, n, None)
        if v is not None:
            return v
    return default


def spec_max_atoms(spec: Any) -> int | None:
    """The model's size limit (``ModelSpec.max_atoms``; 0 or missing = no limit known)."""
    v = _spec_get(spec, "max_atoms")
    return int(v) if v else None


def spec_prior_params(spec: Any) -> Any:
    """The model's ``pipeline.prior.PriorParams`` (``ModelSpec.prior``)."""
    p = _spec_get(spec, "prior", "prior_params")
    if p is None:
        raise ValueError("model spec has no prior parameters (ModelSpec.prior)")
    return p


def spec_schedule(spec: Any):
    """The noise schedule the model was trained with (``ModelSpec.build_schedule()`` when present)."""
    if hasattr(spec, "build_schedule"):
        return spec.build_schedule()
    from pipeline.diffusion import get_schedule

    name = _spec_get(spec, "schedule", "schedule_name", default="cosine")
    if not isinstance(name, str):  # a schedule config object
        kw = name.model_dump() if hasattr(name, "model_dump") else dict(name)
        return get_schedule(**kw)
    return get_schedule(name, **(_spec_get(spec, "schedule_kwargs", default={}) or {}))


def resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def weights_hash(model: Any, length: int = 8) -> str:
    """Short sha256 of the model's parameters and buffers (names, dtypes, shapes, values); '' without any."""
    import torch

    state = model.state_dict() if hasattr(model, "state_dict") else {}
    if not state:
        return ""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:length]


def model_label(name: str, model: Any) -> str:
    """``name@<weights hash>`` (e.g. ``bondiff-shipped@3f2a9c1e``); just ``name`` for a model without weights."""
    digest = weights_hash(model)
    return f"{name}@{digest}" if digest else name
