"""The validation report page without a browser: verdict, headline, worst-first table, SDF properties
shown when present and tolerated when absent, viewer payload aligned on the references."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np
import pytest

pytest.importorskip("rdkit")
from tests.helpers.validate import MOLECULES, embed, mirrored, write_generated, write_refset  # noqa: E402

from pipeline.validate import ValidateConfig, run_validate  # noqa: E402
from pipeline.validate.html_report import verdict  # noqa: E402


@pytest.fixture(scope="module")
def refset(tmp_path_factory):
    return write_refset(tmp_path_factory.mktemp("ref") / "refset", n_confs=2, molecules=MOLECULES[:2])


def _validate(tmp_path, sdf, refset):
    cfg = ValidateConfig(workers=1, cache_dir=str(tmp_path / "cache"), plots=False, checks={"energy": False})
    run_validate(cfg, sdf, refset, tmp_path / "val")
    return (tmp_path / "val" / "report.html").read_text()


def test_verdict_tones_and_reasons():
    text, tone = verdict({"n_records": 100, "validity": 0.99, "stereo_correct": 1.0}, Counter(), 0.75)
    assert tone == "good" and "99.0 %" in text and "Stereo" not in text
    text, tone = verdict({"n_records": 100, "validity": 0.6, "stereo_correct": 0.8}, Counter({"stereo_centres": 40}), 0.75)
    assert tone == "warn" and "stereo_centres (40 of 100" in text and "wrong in 20.0 %" in text
    m = {"n_records": 10, "validity": 0.0, "COV-R_mean": 0.0, "AMR-R_mean": float("nan"), "n_molecules_no_valid": 2, "n_molecules_scored": 2}
    text, tone = verdict(m, Counter({"connectivity": 10, "energy": 7}), 0.5, demo="demo model")
    assert tone == "bad" and "--refine mmff" in text and "δ = 0.5 Å" in text and "2 of 2 molecules" in text and text.endswith("demo model")
    assert "AMR-R" not in text  # undefined, not printed as nan


def test_page_without_sdf_provenance_or_refinement(tmp_path, refset):
    (aa_smi, aa, _), (cam_smi, cam, _) = MOLECULES[:2]
    sdf = write_generated(tmp_path / "g.sdf", [(aa, aa_smi, embed(aa_smi, 2, seed=100)), (cam, cam_smi, mirrored(embed(cam_smi, 2, seed=5)))])
    html = _validate(tmp_path, sdf, refset)
    assert "the SDF names no model" in html and "not tracked (no run_id in the SDF)" in html
    assert "relaxation (SDF properties)" not in html  # no such properties: no empty column
    assert html.index(f"<b>{cam}</b>") < html.index(f"<b>{aa}</b>"), "the molecule with no valid conformer comes first"
    assert html.count("<svg") >= 2  # one depiction per molecule
    v = json.loads((tmp_path / "val" / "summary.json").read_text())["verdict"]
    assert v["tone"] == "warn" and v["text"] in html and f'class="verdict {v["tone"]}"' in html  # one verdict: page and summary


def test_page_shows_refinement_properties_and_viewer_payload(tmp_path, refset):
    from pipeline.sample.sdf import write_sdf

    aa_smi, aa, _ = MOLECULES[0]
    m = embed(aa_smi, 3, seed=100)  # the reference conformers themselves
    rng = np.random.default_rng(0)
    records = []
    for j, conf in enumerate(m.GetConformers()):
        pos = conf.GetPositions() @ _rotation(rng).T + 3.0  # moved away: the viewer must superpose it back
        for i, p in enumerate(pos):
            conf.SetAtomPosition(i, p.tolist())
        props = {"_Name": aa, "SMILES": aa_smi, "conformer_index": j, "model": "bondiff-shipped@5913d77c", "refined": "mmff94",
                 "energy_kcal_mol": f"{-10.0 + j} (MMFF94)", "refine_converged": "false" if j == 2 else "true", "stereo_ok": "true"}
        records.append((m, conf.GetId(), props))
    write_sdf(tmp_path / "g.sdf", records)
    html = _validate(tmp_path, tmp_path / "g.sdf", refset)
    assert "relaxation (SDF properties)" in html and "2/3 converged" in html and "E -10.0 to -8.0 kcal/mol" in html and "stereo ok 3/3" in html
    assert "bondiff-shipped@5913d77c" in html and "relaxation: mmff94" in html

    payload = json.loads(re.search(r'<script type="application/json" id="viewer-data">(.*?)</script>', html, re.S).group(1))
    d = payload[aa]
    n_heavy = len(d["atoms"])
    assert d["n_refs"] == 2 and len(d["refs"]) == 2 and len(d["gen"]) == 3 and all(g["valid"] for g in d["gen"])
    ref0 = np.array(d["refs"][0]).reshape(n_heavy, 3)
    # moved and rotated, each generated conformer is shown superposed on its closest reference, atoms in
    # the reference's order: the plain RMSD of the shown coordinates is the optimal one
    for g in d["gen"]:
        xyz = np.array(g["xyz"]).reshape(n_heavy, 3)
        shown = min(np.sqrt(((xyz - np.array(r).reshape(n_heavy, 3)) ** 2).sum(1).mean()) for r in d["refs"])
        assert shown == pytest.approx(g["rmsd"], abs=0.01)
    assert d["gen"][0]["rmsd"] < 0.05 and d["gen"][1]["rmsd"] < 0.05  # the first two are the references themselves
    assert np.abs(ref0.mean(0)).max() < 5.0


def _rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))  # proper rotation: no reflection (that would flip stereo)


def test_benchmark_page_marks_the_best_value_of_each_row():
    from pipeline.benchmark.html import benchmark_html, benchmark_verdict

    nan = float("nan")
    table = {"a": {"COV-R_mean": 0.5, "AMR-R_mean": 0.9, "validity": 1.0, "core_s_per_conformer": 0.5},
             "b": {"COV-R_mean": 0.7, "AMR-R_mean": 0.6, "validity": 0.8, "core_s_per_conformer": 0.01},
             "c": {"COV-R_mean": 0.0, "AMR-R_mean": nan, "validity": 0.0}}
    rep = {"reference": "refs", "n_molecules": 3, "samples_per_reference": 2, "deltas": [0.75], "machine": {"cores": 2}, "status": {"a": "ok", "b": "ok", "c": "ok", "d": "unavailable: no"}, "table": table}
    html = benchmark_html(rep)
    row = lambda label: re.search(rf"<tr><td>{re.escape(label)}</td>.*?</tr>", html).group(0)  # noqa: E731
    assert "<b>70.0</b>" in row("COV-R mean (δ=0.75 Å)") and "<b>0.600</b>" in row("AMR-R mean")
    assert "<b>100.0</b>" in row("valid conformers") and "<b>0.0100</b>" in row("core-seconds / conformer")
    assert "n/a" in row("valid conformers")  # the unavailable sampler
    assert 'href="a/validate/report.html"' in html and 'href="d/validate/report.html"' not in html
    text, tone = benchmark_verdict(table, 0.75)
    assert text.startswith("Best recall: b reproduces 70.0 %") and "c (0.0 %)" in text and tone == "warn"
    # benchmark.json writes NaN as null: a sampler without one valid conformer must not break the verdict
    only_invalid = {"c": {"COV-R_mean": 0.0, "AMR-R_mean": None, "validity": 0.0}}
    text, tone = benchmark_verdict(only_invalid, 0.75)
    assert text.startswith("Best recall: c reproduces 0.0 %") and tone == "warn"
