from typing import Literal

import pytest

from pipeline.config import ConfigError, StrictModel, apply_overrides, config_hash, field_at, flatten, load_config, with_values
from tests.helpers.config import WithSection


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


# -- typed values at dotted keys (command-line flags) -------------------------------------------------
def test_with_values_sets_typed_values_at_dotted_keys_and_leaves_the_original():
    cfg = WithSection()
    new = with_values(cfg, {"steps": 3, "inner.delta": 0.5, "inner.tags": ["c"]})
    assert (new.steps, new.inner.delta, new.inner.tags) == (3, 0.5, ["c"])
    assert (cfg.steps, cfg.inner.delta, cfg.inner.tags) == (10, 0.75, ["a", "b"])


@pytest.mark.parametrize(
    "values, match",
    [
        ({"steps": 0}, r"steps: Input should be greater than or equal to 1"),
        ({"inner.delta": -1.0}, r"inner\.delta: Input should be greater than 0"),
        ({"window": 2.0}, r"window needs mode slow"),  # the model validator runs on the result
        ({"inner.nope": 1}, r"inner\.nope: unknown key"),
        ({"mode": "medium"}, r"mode: Input should be 'fast' or 'slow'"),
    ],
)
def test_with_values_validates_and_names_the_key_and_source(values, match):
    with pytest.raises(ConfigError, match=match) as err:
        with_values(WithSection(), values, source="<defaults> (--flag)")
    assert "<defaults> (--flag)" in str(err.value)


def test_field_at_reads_nested_keys_and_rejects_unknown_ones():
    assert field_at(WithSection, "inner.delta").description == "coverage threshold in Å"
    with pytest.raises(ConfigError, match="inner.nope"):
        field_at(WithSection, "inner.nope")
    with pytest.raises(ConfigError, match="not a section"):
        field_at(WithSection, "steps.x")
