"""Typed configuration: strict pydantic models, YAML loading, dotted CLI overrides.

Every stage owns its config class (``pipeline/<stage>/config.py``) built on :class:`StrictModel`;
this module holds what they share:

* unknown keys and wrong types are errors that name the key (``extra="forbid"``);
* ``load_config(Model, path, overrides)`` reads YAML, applies ``a.b.c=value`` overrides
  (values parsed as YAML scalars, so ``steps=50`` is an int), and validates;
* ``config_hash(cfg)`` is a stable content hash of the resolved config (used by caches);
* ``flatten(cfg)`` gives ``{"a.b": v}`` for MLflow params.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "StrictModel",
    "ConfigError",
    "load_config",
    "apply_overrides",
    "config_hash",
    "flatten",
    "to_yaml",
]

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of all configs: unknown keys are errors, defaults are validated, no coercion surprises."""

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=False)


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the file and the key."""


def _format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"invalid config {source}:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"  {key}: {msg} (got {e.get('input')!r})" if e["type"] != "extra_forbidden" else f"  {key}: {msg}")
    return "\n".join(lines)


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"train.lr=1e-3"`` -> (["train", "lr"], 0.001). Values are parsed as YAML scalars/lists."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.sub=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else ""
    except yaml.YAMLError as exc:  # pragma: no cover - yaml accepts nearly anything as a scalar
        raise ConfigError(f"override {item!r}: cannot parse value: {exc}") from exc
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with dotted overrides applied (intermediate dicts are created)."""
    out = json.loads(json.dumps(data)) if data else {}
    for item in overrides:
        path, value = parse_override(item)
        node = out
        for part in path[:-1]:
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = nxt
        node[path[-1]] = value
    return out


def validate(model: type[M], data: Mapping[str, Any], source: str = "<dict>") -> M:
    try:
        return model.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source)) from None


def load_config(model: type[M], path: str | Path | None = None, overrides: Sequence[str] = ()) -> M:
    """Load ``path`` (YAML; may be None for defaults), apply overrides, validate against ``model``."""
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        from pipeline.io_paths import InputFileError, encoding_problem, file_problem, read_text

        p = Path(path)
        source = str(p)
        if not p.exists():
            raise ConfigError(f"config file not found: {p}")
        try:
            why = file_problem(p)
            if why:
                raise InputFileError(why)
            text = read_text(p)  # a BOM is fine; bytes that are not UTF-8 are a clear error
            why = encoding_problem(text)
            if why:
                raise InputFileError(why)
        except InputFileError as exc:
            raise ConfigError(f"config file {p}: {exc}") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {p} is not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {p} must hold a mapping at the top level")
        data = loaded
    data = apply_overrides(data, overrides)
    return validate(model, data, source + (f" (overrides: {', '.join(overrides)})" if overrides else ""))


def _canonical(cfg: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(cfg, BaseModel):
        return cfg.model_dump(mode="json")
    return json.loads(json.dumps(dict(cfg), default=str))


def config_hash(cfg: BaseModel | Mapping[str, Any], length: int = 16) -> str:
    """Stable hash of a resolved config (sorted JSON); same config -> same hash across runs."""
    blob = json.dumps(_canonical(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def flatten(cfg: BaseModel | Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists become their JSON text."""
    out: dict[str, Any] = {}
    for k, v in _canonical(cfg).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        elif isinstance(v, list):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out


def to_yaml(cfg: BaseModel | Mapping[str, Any]) -> str:
    return yaml.safe_dump(_canonical(cfg), sort_keys=False)
