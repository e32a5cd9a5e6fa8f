from typing import Literal

import pytest

from pipeline.config import ConfigError, StrictModel, apply_overrides, config_hash, flatten, load_config


class Inner(StrictModel):
    steps: int = 10
    sampler: Literal["sde", "ode"] = "sde"


class Outer(StrictModel):
    name: str = "x"
    inner: Inner = Inner()


def test_defaults_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: y\ninner:\n  steps: 5\n")
    cfg = load_config(Outer, p, ["inner.sampler=ode", "inner.steps=7"])
    assert cfg.name == "y" and cfg.inner.steps == 7 and cfg.inner.sampler == "ode"


def test_unknown_key_is_named(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("inner:\n  stepz: 5\n")
    with pytest.raises(ConfigError, match=r"inner\.stepz: unknown key"):
        load_config(Outer, p)


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"inner\.steps"):
        load_config(Outer, None, ["inner.steps=many"])


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config(Outer, "/nonexistent/config.yaml")


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="key.sub=value"):
        apply_overrides({}, ["nokey"])


def test_hash_is_stable_and_sensitive():
    a, b = Outer(), Outer()
    assert config_hash(a) == config_hash(b)
    b.inner.steps = 11
    assert config_hash(a) != config_hash(b)
    assert flatten(a) == {"name": "x", "inner.steps": 10, "inner.sampler": "sde"}
