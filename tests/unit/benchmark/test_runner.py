"""Benchmark bookkeeping: molecules a sampler produced nothing for count as coverage 0; table formatting."""

from __future__ import annotations

import math
import sys

import pandas as pd
import pytest

from pipeline.benchmark.config import BenchmarkConfig
from pipeline.benchmark.runner import BenchMolecule, sampler_metrics
from pipeline.benchmark.table import format_table, markdown_table
from pipeline.config import ConfigError, load_config


def test_missing_molecule_counts_as_zero_coverage():
    mols = [BenchMolecule(n, "C", None, 2) for n in ("a", "b", "c")]
    table = pd.DataFrame(
        [
            {"name": "a", "n_valid": 4, "COV-R_0.75": 1.0, "COV-P_0.75": 0.5, "AMR-R": 0.2, "AMR-P": 0.9},
            {"name": "b", "n_valid": 0, "COV-R_0.75": 0.0, "COV-P_0.75": 0.0, "AMR-R": float("nan"), "AMR-P": float("nan")},
        ]
    )
    stats = {"n_requested": 12.0, "n_generated": 8.0, "conformers_per_s": 2.0}
    row = sampler_metrics(table, {"metrics": {"stereo_correct": 0.75}}, mols, stats, [0.75])
    assert row["COV-R_mean"] == pytest.approx(1.0 / 3)  # c: nothing generated -> 0
    assert row["COV-R_median"] == 0.0
    assert row["COV-P_mean"] == pytest.approx(0.5 / 3)
    assert row["AMR-R_mean"] == pytest.approx(0.2)  # AMR only where defined
    assert row["validity"] == pytest.approx(4 / 12)  # over requested conformers
    assert row["n_molecules_without_valid"] == 2
    assert row["stereo_correct"] == 0.75 and row["conformers_per_s"] == 2.0


def test_table_shows_unavailable_sampler():
    status = {"bondiff": "unavailable: no model", "etkdg": "ok"}
    table = {"etkdg": {"COV-R_mean": 0.5, "AMR-R_mean": 1.25, "validity": 1.0, "conformers_per_s": 10.0, "AMR-P_mean": math.nan}}
    text = format_table(table, status, [0.75, 0.5])
    assert "COV-R mean (δ=0.75 Å) %" in text and "50.0" in text and "1.250" in text
    assert "bondiff: unavailable: no model" in text
    md = markdown_table(table, status, [0.75, 0.5])
    assert md.splitlines()[0] == "| metric | bondiff | etkdg |" and "| n/a |" in md


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="unknown samplers"):
        load_config(BenchmarkConfig, None, ["samplers=[omega]"])
    with pytest.raises(ConfigError, match="seed"):
        load_config(BenchmarkConfig, None, ["seed=0"])
    cfg = load_config(BenchmarkConfig, None, ["validate.metrics.delta=0.5", "samplers=[etkdg, etkdg]"])
    assert cfg.validate_.metrics.deltas == [0.5, 0.1] and cfg.samplers == ["etkdg"]


def test_unavailable_bondiff_is_reported_and_the_others_still_run(tmp_path, monkeypatch):
    pytest.importorskip("rdkit")
    from tests.helpers.validate import MOLECULES, write_refset

    from pipeline.benchmark.runner import run_benchmark

    monkeypatch.setitem(sys.modules, "pipeline.api", None)  # as if the sampling API were not there
    ref = write_refset(tmp_path / "ref", n_confs=1, molecules=MOLECULES[:1])
    cfg = load_config(BenchmarkConfig, None, ["samplers=[bondiff, etkdg]", "validate.workers=1", "validate.plots=false", f"validate.cache_dir={tmp_path / 'c'}"])
    res = run_benchmark(cfg, ref, tmp_path / "out")
    assert res.extra["status"]["bondiff"].startswith("unavailable: pipeline.api.generate_conformers is not available")
    assert res.extra["status"]["etkdg"] == "ok" and "bondiff" not in res.extra["table"]
    assert res.extra["table"]["etkdg"]["n_generated"] == 2
    assert "bondiff: unavailable" in (tmp_path / "out" / "table.txt").read_text()


def test_batch_sampler_is_called_per_sample_count_and_failures_are_errors(tmp_path):
    pytest.importorskip("rdkit")
    from tests.helpers.validate import MOLECULES, embed
    from rdkit import Chem

    from pipeline.benchmark.runner import _generate
    from pipeline.types import RecordError

    mols = [BenchMolecule(n, Chem.CanonSmiles(s), Chem.AddHs(Chem.MolFromSmiles(s)), k) for (s, n, _), k in zip(MOLECULES, (1, 2, 1))]
    calls = []

    def fn(mol, n, seed):  # pragma: no cover - the batch path must be used
        raise AssertionError("per-molecule path used")

    def batch(ms, n, seed):
        calls.append((len(ms), n))
        out = [embed(Chem.MolToSmiles(Chem.RemoveHs(m)), n, seed) for m in ms]
        out[-1] = None  # the last molecule of each group fails
        return out, [RecordError("<api>", "x", "diverged")]

    fn.batch = batch
    cfg = BenchmarkConfig(seed=5)
    stats, errors = _generate("fake", fn, mols, cfg, tmp_path / "g.sdf")
    assert sorted(calls) == [(1, 4), (2, 2)]  # grouped by 2K
    # group n=2: amino_acid ok, methylpyrrolidinium failed; group n=4: camphor failed
    assert stats["n_requested"] == 8 and stats["n_generated"] == 2
    assert len(errors) == 2 and all(e.file == "fake" for e in errors)
    assert len(Chem.SDMolSupplier(str(tmp_path / "g.sdf"), removeHs=False)) == 2


def test_bondiff_settings_reach_the_api_and_are_checked_early(monkeypatch):
    """bondiff.settings are SampleConfig fields (checked when the config loads) passed to every API call."""
    import pipeline.api as api
    from pipeline.benchmark.samplers import make_bondiff

    with pytest.raises(ConfigError, match="stereoo"):
        load_config(BenchmarkConfig, None, ["bondiff.settings={stereoo: 1}"])
    seen = []
    monkeypatch.setattr(api, "generate_conformers", lambda mol, **kw: seen.append(kw))
    cfg = BenchmarkConfig.model_validate({"bondiff": {"settings": {"stereo": {"mirror_fix": False}}}})
    sampler = make_bondiff(cfg)
    sampler("CCO", 2, 1)
    assert seen and all(kw["stereo"] == {"mirror_fix": False} and kw["refine"] == "none" for kw in seen)
