"""Typed configuration: strict pydantic models, YAML loading, dotted CLI overrides.

Every stage owns its config class (``pipeline/<stage>/config.py``) built on :class:`StrictModel`;
this module holds what they share:

* unknown keys and wrong types are errors that name the key (``extra="forbid"``);
* ``load_config(Model, path, overrides)`` reads YAML, applies ``a.b.c=value`` overrides
  (values parsed as YAML scalars, so ``steps=50`` is an int), and validates;
* ``with_values(cfg, {"a.b": value})`` applies typed values (command-line flags) to a loaded
  config and validates the result; ``field_at(Model, "a.b")`` is the field behind a dotted key;
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
from pydantic.fields import FieldInfo

__all__ = [
    "StrictModel",
    "ConfigError",
    "load_config",
    "apply_overrides",
    "with_values",
    "field_at",
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


def _format_validation_error(err: ValidationError, source: str, prefix: str = "") -> str:
    lines = [f"invalid config {source}:"]
    for e in err.errors():
        key = prefix + ".".join(str(p) for p in e["loc"]) or "<root>"
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


def field_at(model: type[BaseModel], key: str) -> FieldInfo:
    """The pydantic field behind a dotted key (``"metrics.delta"``); a section's alias works too."""
    node: type[BaseModel] = model
    parts = key.split(".")
    for i, part in enumerate(parts):
        name = _field_name(node, part)
        if name is None:
            raise ConfigError(f"{key}: unknown key {'.'.join(parts[: i + 1])!r} in {model.__name__}")
        info = node.model_fields[name]
        if i == len(parts) - 1:
            return info
        sub = info.annotation
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            raise ConfigError(f"{key}: {'.'.join(parts[: i + 1])!r} is not a section")
        node = sub
    raise ConfigError(f"empty config key {key!r}")  # pragma: no cover - split gives at least one part


def _field_name(model: type[BaseModel], part: str) -> str | None:
    for name, info in model.model_fields.items():
        if part in (name, info.alias):
            return name
    return None


def with_values(cfg: M, values: Mapping[str, Any], source: str = "<values>") -> M:
    """``cfg`` with typed ``values`` at dotted keys (``{"metrics.delta": 0.5}``), validated like a loaded
    config (field constraints and model validators of every section touched); ``cfg`` is unchanged.
    A bad value is a :class:`ConfigError` naming the key and ``source``."""
    return _with_values(cfg, dict(values), source, "")


def _with_values(cfg: M, values: dict[str, Any], source: str, prefix: str) -> M:
    model = type(cfg)
    update: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        head, _, rest = key.partition(".")
        name = _field_name(model, head)
        if name is None:
            raise ConfigError(f"invalid config {source}:\n  {prefix}{head}: unknown key")
        if rest:
            sections.setdefault(name, {})[rest] = value
        else:
            update[name] = value
    for name, sub in sections.items():
        section = getattr(cfg, name)
        if not isinstance(section, BaseModel):
            raise ConfigError(f"invalid config {source}:\n  {prefix}{name}: not a section")
        alias = model.model_fields[name].alias
        update[name] = _with_values(section, sub, source, f"{prefix}{alias or name}.")
    copy = cfg.model_copy(update=update)  # not validated by pydantic: validated here, field by field and as a whole
    data = {(info.alias or name): getattr(copy, name) for name, info in model.model_fields.items()}
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source, prefix)) from None


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
