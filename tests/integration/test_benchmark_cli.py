"""``bondiff benchmark`` end to end on a tiny reference set with a temporary MLflow store."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("rdkit")
from tests.helpers import validate as H  # noqa: E402

from pipeline.cli import main  # noqa: E402

KEYS = ("COV-R_mean", "COV-R_median", "AMR-R_mean", "AMR-R_median", "COV-P_mean", "AMR-P_mean", "validity", "stereo_correct", "conformers_per_s", "core_s_per_conformer")


def test_benchmark_cli(tmp_path, mlflow_store, capsys):
    import mlflow

    ref = H.write_refset(tmp_path / "refset", n_confs=2)
    out_json = tmp_path / "bench.json"
    rc = main(
        ["benchmark", "--reference", str(ref), "--samplers", "etkdg,etkdg-mmff", "--limit", "2", "--json", str(out_json),
         "--out", str(tmp_path / "bench"), "--workers", "1", "--set", f"validate.cache_dir={tmp_path / 'cache'}", "--set", "validate.plots=false"]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "benchmark on 2 molecules" in text and "etkdg-mmff" in text and "COV-R mean" in text
    page = (tmp_path / "bench" / "report.html").read_text()
    assert "report.html" in text and "Verdict." in page and 'href="etkdg-mmff/validate/report.html"' in page
    sampler_page = (tmp_path / "bench" / "etkdg-mmff" / "validate" / "report.html").read_text()
    assert "RDKit ETKDGv3" in sampler_page and "relaxation: MMFF94" in sampler_page  # the SDF says what made it

    table = json.loads(out_json.read_text())
    assert set(table) == {"etkdg", "etkdg-mmff"}
    for s in ("etkdg", "etkdg-mmff"):
        row = table[s]
        assert row["status"] == "ok"
        for k in KEYS:
            assert k in row, (s, k)
        assert 0.0 <= row["COV-R_mean"] <= 1.0 and row["AMR-R_mean"] >= 0.0
        assert row["n_generated"] == 2 * 2 * 2  # 2 molecules x 2K with K = 2
        assert row["conformers_per_s"] > 0 and row["core_s_per_conformer"] > 0
        assert row["stereo_correct"] == 1.0  # ETKDG keeps the requested stereo

    run = mlflow.search_runs(experiment_names=["bondiff"], output_format="list")[0]
    assert run.data.tags["stage"] == "benchmark"
    assert run.data.metrics["etkdg.COV-R_mean"] == pytest.approx(table["etkdg"]["COV-R_mean"])
    assert run.data.tags["benchmark.status.etkdg-mmff"] == "ok"


def test_benchmark_cli_rejects_unknown_sampler(tmp_path, mlflow_store, capsys):
    ref = H.write_refset(tmp_path / "refset", n_confs=1, molecules=H.MOLECULES[:1])
    assert main(["benchmark", "--reference", str(ref), "--samplers", "etkdg,omega", "--no-track"]) == 2
    assert "unknown samplers" in capsys.readouterr().err
