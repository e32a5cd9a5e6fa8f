"""Plain, read-only views of resolved configs for code paths that must run without pydantic.

The GPU machine of the training campaign has torch, e3nn and torch-geometric but no pydantic, RDKit or
MLflow. What the training loop and the network read from a ``TrainConfig`` or a ``ModelSpec`` are
attributes (``cfg.optim.lr``, ``spec.net.channels``, ``spec.build_schedule()``), so the *resolved*
config, written as JSON on a machine that has pydantic (``model_dump(mode="json")``: presets applied,
defaults filled in, validated), is all such a path needs: :func:`namespace` turns it into attribute
access, :func:`spec_view` adds the one method a ``ModelSpec`` user calls. Nothing is validated here:
validation happened where the JSON was written.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

__all__ = ["namespace", "spec_view", "SpecView"]


def namespace(data: Any) -> Any:
    """Dicts (nested, also inside lists) -> ``SimpleNamespace``; other values unchanged."""
    if isinstance(data, dict):
        return SimpleNamespace(**{k: namespace(v) for k, v in data.items()})
    if isinstance(data, list):
        return [namespace(v) for v in data]
    return data


class SpecView(SimpleNamespace):
    """A ``ModelSpec``'s resolved JSON with attribute access and ``build_schedule()``."""

    def build_schedule(self):
        from pipeline.diffusion.schedules import schedule_from_config

        return schedule_from_config(vars(self.schedule))


def spec_view(spec: dict[str, Any]) -> SpecView:
    """A view of ``ModelSpec.model_dump(mode="json")`` (e.g. the ``spec`` stored in every checkpoint)."""
    return SpecView(**{k: namespace(v) for k, v in spec.items()})
