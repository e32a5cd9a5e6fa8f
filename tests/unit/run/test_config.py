"""PipelineConfig: stage sections are the stages' own configs, validated on load, paths resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import ConfigError, flatten
from pipeline.run.config import PipelineConfig, load_pipeline_config

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", ["quickstart.yaml", "qm9_gpu.yaml", "sample_user_sdf.yaml"])
def test_shipped_configs_load(name):
    cfg = load_pipeline_config(REPO / "configs" / name, base_dir=REPO)
    assert cfg.workdir.is_absolute() and cfg.workdir.is_relative_to(REPO / "bondiff-work")
    assert all(p.exists() for p in cfg.inputs.paths)
    if cfg.targets.input is not None:
        assert cfg.targets.input.exists()


def test_sections_are_stage_configs_and_overrides_reach_them(tmp_path):
    from pipeline.sample.config import SampleConfig
    from pipeline.validate.config import ValidateConfig

    p = tmp_path / "c.yaml"
    p.write_text("inputs: {paths: [data]}\nsample: {steps: 7}\n")
    cfg = load_pipeline_config(p, ["validate.workers=3", "train.max_steps=11"], base_dir=tmp_path)
    assert isinstance(cfg.sample, SampleConfig) and cfg.sample.steps == 7
    assert isinstance(cfg.section("validate"), ValidateConfig) and cfg.section("validate").workers == 3
    assert cfg.train.max_steps == 11
    assert cfg.inputs.paths == [tmp_path / "data"]
    # logged params use the YAML key names
    assert flatten(cfg)["validate.workers"] == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["sample.stepz=3"], r"sample\.stepz: unknown key"),
        (["train.max_steps=-1"], r"train\.max_steps"),
        (["stages=[ingest,train]"], "contiguous"),
        (["stages=[prior,train]"], "start at ingest"),
        (["stages=[sample,validate]"], "targets"),
        (["inputs.paths=[]"], "nothing to read"),
    ],
)
def test_bad_configs_name_the_problem(tmp_path, overrides, message):
    p = tmp_path / "c.yaml"
    p.write_text("inputs: {paths: [data]}\n")
    with pytest.raises(ConfigError, match=message):
        load_pipeline_config(p, overrides, base_dir=tmp_path)


def test_sampling_only_chain_needs_no_inputs():
    cfg = PipelineConfig(stages=["sample", "validate", "export"], targets={"smiles": ["CCO ethanol"]}, model="m")
    resolved = cfg.resolved("/base")
    assert resolved.model == "/base/m"
    assert PipelineConfig(stages=["sample"], targets={"smiles": ["C"]}, model="models:/x/1").resolved("/b").model == "models:/x/1"
