"""Paired comparison of two benchmark runs (pipeline.benchmark.paired)."""

from __future__ import annotations

import math

import pytest

pd = pytest.importorskip("pandas")

from pipeline.benchmark.paired import main, paired_differences  # noqa: E402


def _table(cov, amr, names=None):
    names = names or [f"m{i}" for i in range(len(cov))]
    return pd.DataFrame({"name": names, "COV-R_0.75": cov, "AMR-R": amr})


def test_mean_difference_and_its_standard_error_by_hand():
    a = _table([0.5, 0.5, 0.5, 0.5], [1.0, 1.0, 1.0, 1.0])
    b = _table([0.6, 0.7, 0.6, 0.7], [0.9, 1.1, 0.9, 1.1])
    rows = {r["metric"]: r for r in paired_differences(a, b)}
    cov = rows["COV-R_0.75"]
    assert cov["n"] == 4 and cov["diff"] == pytest.approx(0.15)
    assert cov["se"] == pytest.approx(pd.Series([0.1, 0.2, 0.1, 0.2]).std() / 2)  # ddof 1, over √n
    assert cov["verdict"] == "B better"  # 0.15 against an SE of 0.029
    assert rows["AMR-R"]["diff"] == pytest.approx(0.0) and rows["AMR-R"]["verdict"] == "within noise"


def test_lower_amr_is_better_and_missing_values_follow_the_benchmark_rules():
    names = ["x", "y", "z", "w"]
    a = _table([0.2, 0.4, float("nan"), 0.3], [1.0, 1.2, float("nan"), 1.1], names)
    b = _table([0.2, 0.4, 0.5, 0.3], [0.8, 1.0, 0.7, 0.9], names)
    rows = {r["metric"]: r for r in paired_differences(a, b)}
    assert rows["COV-R_0.75"]["n"] == 4 and rows["COV-R_0.75"]["a"] == pytest.approx(0.9 / 4)  # nothing generated: 0
    assert rows["AMR-R"]["n"] == 3  # the pair without A's value is dropped
    assert rows["AMR-R"]["verdict"] == "B better"  # every molecule 0.2 Å lower: SE 0
    worse = paired_differences(b, a)
    assert {r["metric"]: r["verdict"] for r in worse}["AMR-R"] == "A better"


def test_only_molecules_and_metrics_both_runs_hold():
    a = _table([0.1, 0.2, 0.3], [1.0, 1.0, 1.0], ["p", "q", "r"])
    b = pd.DataFrame({"name": ["q", "r", "s"], "COV-R_0.75": [0.2, 0.3, 0.9]})
    rows = paired_differences(a, b)
    assert [r["metric"] for r in rows] == ["COV-R_0.75"] and rows[0]["n"] == 2 and rows[0]["diff"] == 0.0
    one = paired_differences(a.iloc[:1], a.iloc[:1])
    assert math.isnan(one[0]["se"]) and one[0]["verdict"] == "within noise"


def test_cli_reads_benchmark_and_validate_folders(tmp_path, capsys):
    bench = tmp_path / "bench" / "bondiff" / "validate"
    bench.mkdir(parents=True)
    _table([0.5, 0.6, 0.7], [1.0, 0.9, 0.8]).to_csv(bench / "molecules.csv", index=False)
    val = tmp_path / "val"
    val.mkdir()
    _table([0.6, 0.7, 0.8], [0.9, 0.8, 0.7]).to_csv(val / "molecules.csv", index=False)
    assert main([str(tmp_path / "bench"), str(val), "--json", str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert "| COV-R δ 0.75 Å | 3 | 0.600 | 0.700 | +0.100 | 0.000 | B better |" in out
    assert (tmp_path / "p.json").is_file()
    assert main([str(tmp_path / "bench"), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nor a validate output folder" in err and str(tmp_path) in err
