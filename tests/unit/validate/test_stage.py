"""run_validate end to end on hand-made inputs: tables, summary, report, per-record errors, coverage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rdkit")
from tests.helpers.validate import MOLECULES, embed, mirrored, write_generated, write_refset  # noqa: E402

from pipeline.types import StageError  # noqa: E402
from pipeline.validate import ValidateConfig, run_validate  # noqa: E402

GARBAGE = "broken\n  nonsense\n\n  2  1  0  0  0  0  0  0  0  0999 V2000\nM  END\n> <SMILES>\nCC\n\n$$$$\n"


@pytest.fixture(scope="module")
def refset(tmp_path_factory):
    return write_refset(tmp_path_factory.mktemp("ref") / "refset")


def cfg(tmp_path):
    return ValidateConfig(workers=1, cache_dir=str(tmp_path / "cache"))


def test_validate_with_reference(tmp_path, refset):
    (aa_smi, aa, _), (cam_smi, cam, _), (cat_smi, cat, _) = MOLECULES
    ref_aa = embed(aa_smi, 3, seed=100)  # the very reference conformers (same seed): full coverage
    sdf = write_generated(
        tmp_path / "gen.sdf",
        [
            (aa, aa_smi, ref_aa),
            (cam, cam_smi, mirrored(embed(cam_smi, 2, seed=5))),  # wrong enantiomer only: no valid sample
            ("not_in_reference", "OCCc1ccccc1", embed("OCCc1ccccc1", 2, seed=1)),
        ],
    )
    with open(sdf, "a") as fh:
        fh.write(GARBAGE)
    out = tmp_path / "report"
    res = run_validate(cfg(tmp_path), sdf, refset, out)

    assert res.stage == "validate" and res.outputs["report_dir"] == out
    assert [e.record for e in res.errors] == ["8"]  # the garbage record, by number; the rest went through
    conf = pd.read_csv(out / "conformers.csv")
    assert list(conf["record"]) == list(range(1, 9))
    assert not conf.loc[conf["record"] == 8, "valid"].item() and conf.loc[conf["record"] == 8, "failed"].item() == "record"
    cam_rows = conf[conf["name"] == cam]
    assert not cam_rows["valid"].any() and cam_rows["failed"].str.contains("stereo_centres").all()
    assert conf[conf["name"] == aa]["valid"].all()

    mols = pd.read_csv(out / "molecules.csv").set_index("name")
    assert mols.loc[aa, "COV-R_0.75"] == 1.0 and mols.loc[aa, "COV-R_0.1"] == 1.0
    assert mols.loc[aa, "AMR-R"] < 0.05
    assert mols.loc[cam, "COV-R_0.75"] == 0.0 and mols.loc[cam, "n_valid"] == 0  # no valid sample -> coverage 0
    assert pd.isna(mols.loc["not_in_reference", "reference"])

    summary = json.loads((out / "summary.json").read_text())  # strict JSON (NaN written as null)
    m = summary["metrics"]
    assert m["n_records"] == 8 and m["n_errors"] == 1
    assert m["validity"] == pytest.approx(5 / 8)
    assert m["n_molecules_scored"] == 2 and m["n_molecules_no_valid"] == 1
    assert m["COV-R_mean"] == pytest.approx(0.5) and m["COV-R_median"] == pytest.approx(0.5)
    assert res.metrics["COV-R_mean"] == m["COV-R_mean"]
    assert summary["curve"]["COV-R"][-1] == pytest.approx(0.5)
    for name in ("validity_by_check.png", "bond_deviations.png", "cov_vs_delta.png", "rmsd_distribution.png", "conformers.parquet"):
        assert (out / name).stat().st_size > 0
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and cam in html


def test_validate_without_reference_checks_only(tmp_path):
    smi = MOLECULES[2][0]
    sdf = write_generated(tmp_path / "g.sdf", [("cation", smi, embed(smi, 2, seed=3))])
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "cov_vs_delta.png").write_bytes(b"left over from an earlier run with a reference")
    (tmp_path / "r" / "summary.json").write_text("{}\n")  # an earlier report: may be replaced
    res = run_validate(cfg(tmp_path), sdf, None, tmp_path / "r")
    assert res.metrics["validity"] == 1.0 and "COV-R_mean" not in res.metrics
    assert not (tmp_path / "r" / "cov_vs_delta.png").exists()


def test_every_record_bad_is_a_stage_error(tmp_path):
    sdf = tmp_path / "bad.sdf"
    sdf.write_text(GARBAGE * 2)
    with pytest.raises(StageError, match="none of the 2 records"):
        run_validate(cfg(tmp_path), sdf, None, tmp_path / "r")


def test_graph_that_contradicts_its_smiles_is_an_error(tmp_path):
    sdf = write_generated(tmp_path / "g.sdf", [("liar", "CCO", embed("CCN", 1, seed=1)), ("ok", "CCO", embed("CCO", 1, seed=1))])
    res = run_validate(cfg(tmp_path), sdf, None, tmp_path / "r")
    assert [e.record for e in res.errors] == ["1"] and "liar" in res.errors[0].reason
    assert res.metrics["n_valid"] == 1.0
    assert np.isclose(res.metrics["validity"], 0.5)


def test_plot_series_separates_valid_and_invalid_samples():
    from types import SimpleNamespace

    from pipeline.validate.report import plot_series

    grid = np.array([0.0, 0.5, 1.0, 2.0])
    rows = lambda *valid: [{"valid": v} for v in valid]  # noqa: E731
    results = [
        # 2 references x 3 samples; sample 1 is invalid but the closest to reference 0
        SimpleNamespace(rmsd=np.array([[0.9, 0.1, 1.5], [0.4, 1.2, 0.7]]), rows=rows(True, False, True), metrics={}),
        # every sample invalid: nothing can cover, but the geometry is reported
        SimpleNamespace(rmsd=np.array([[0.3, 0.8]]), rows=rows(False, False), metrics={}),
        SimpleNamespace(rmsd=None, rows=[], metrics={"COV-R_0.5": 0.0}),  # scored, no usable sample
        SimpleNamespace(rmsd=None, rows=[], metrics=None),  # not in the reference: not plotted
    ]
    s = plot_series(results, grid)
    assert sorted(s["min_per_reference"]) == pytest.approx([0.4, 0.9])  # valid samples only
    assert sorted(s["min_per_valid"]) == pytest.approx([0.4, 0.7])
    assert sorted(s["min_per_invalid"]) == pytest.approx([0.1, 0.3, 0.8])
    assert (s["n_valid"], s["n_invalid"]) == (2, 3)
    # validity ignored: molecule 1 covers both references below 0.5 Å, molecule 2 its one, molecule 3 nothing
    assert s["cov_r_any"] == pytest.approx([0.0, 2 / 3, 2 / 3, 2 / 3])


def test_report_plots_without_any_valid_sample(tmp_path, refset):
    (_, _, _), (cam_smi, cam, _), _ = MOLECULES
    sdf = write_generated(tmp_path / "gen.sdf", [(cam, cam_smi, mirrored(embed(cam_smi, 2, seed=5)))])
    out = tmp_path / "report"
    res = run_validate(cfg(tmp_path), sdf, refset, out)
    assert res.metrics["validity"] == 0.0 and res.metrics["COV-R_mean"] == 0.0
    for name in ("validity_by_check.png", "bond_deviations.png", "cov_vs_delta.png", "rmsd_distribution.png"):
        assert (out / name).stat().st_size > 0
