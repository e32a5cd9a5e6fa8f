"""``report.html`` of a validate run in headless Chromium: loads offline with no console error, the 3D
viewer draws (a non-blank canvas with the reference grey and the invalid conformers red), the table
fits a 1,280 px window with the worst molecule first, and the 3D buttons switch the molecule.

Chromium is installed with apt-get when missing (tests/integration/_chromium.py); the test skips,
saying why, only when it cannot be installed or Playwright is not available.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("rdkit")
from tests.helpers import validate as H  # noqa: E402
from tests.integration import _chromium  # noqa: E402


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A validate report over 4 molecules: amino_acid all mirrored (stereo wrong: invalid), camphor
    valid with the refinement properties a relaxed sample carries, the cation without them, methane
    (no reference, one heavy atom)."""
    from pipeline.sample.sdf import write_sdf
    from pipeline.validate import ValidateConfig, run_validate

    root = tmp_path_factory.mktemp("report")
    ref = H.write_refset(root / "refset", n_confs=3)
    records = []
    for k, (smi, name, _) in enumerate(H.MOLECULES):
        m = H.embed(smi, 4, seed=7 + k)
        if name == "amino_acid":
            m = H.mirrored(m)
        for j, conf in enumerate(m.GetConformers()):
            p = {"_Name": name, "SMILES": smi, "conformer_index": j, "sampler": "ode", "steps": 30, "seed": 0, "model_version": "shipped", "run_id": "feedc0de"}
            if name == "camphor":
                p.update({"refined": "mmff94", "energy_kcal_mol": f"{20.0 + j:.2f}", "refine_converged": "true", "stereo_ok": "true"})
            records.append((m, conf.GetId(), p))
    methane = H.embed("C", 2, seed=1)  # not in the reference set; one heavy atom, no bond to draw
    records += [(methane, c.GetId(), {"_Name": "methane", "SMILES": "C", "conformer_index": c.GetId()}) for c in methane.GetConformers()]
    write_sdf(root / "gen.sdf", records)
    cfg = ValidateConfig.model_validate({"workers": 1, "cache_dir": str(root / "cache"), "checks": {"energy": False}})
    run_validate(cfg, root / "gen.sdf", ref, root / "val")
    return root / "val" / "report.html"


def test_report_in_chromium(report):
    chromium = _chromium.ensure_chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (extra `dev`) drives Chromium")
    from PIL import Image

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=_chromium.CHROMIUM_ARGS + _chromium.WEBGL_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.goto(report.as_uri())
        page.wait_for_function("document.getElementById('viewer-info').textContent.length > 0", timeout=20_000)

        widths = page.evaluate("[document.documentElement.scrollWidth, document.getElementById('molecules').getBoundingClientRect().right]")
        first = page.locator("#molecules tbody tr").first.locator("td").nth(1).inner_text()
        headline = page.inner_text("body")
        shot = page.locator("#viewer").screenshot()
        info_worst = page.inner_text("#viewer-info")
        page.locator('button[data-view="camphor"]').click()
        info_camphor = page.inner_text("#viewer-info")
        page.locator('button[data-view="methane"]').click()
        methane_shot = page.locator("#viewer").screenshot()
        browser.close()

    assert problems == [], problems
    assert requests == [], f"offline page made requests: {requests}"
    assert widths[0] <= 1280 and widths[1] <= 1280, f"page / table wider than the window: {widths}"
    assert first.startswith("amino_acid"), f"worst molecule should come first, got {first!r}"
    assert "bondiff-shipped@" in headline and "Verdict." in headline and "feedc0de" in headline
    assert "mmff94" in headline and "4/4 converged" in headline and "E 20.0 to 23.0 kcal/mol" in headline

    img = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    drawn = (np.abs(img - 255).sum(axis=-1) > 30).mean()
    red = ((r > 150) & (g < 110) & (b < 110)).sum()  # invalid conformers
    grey = ((np.abs(r - g) < 12) & (np.abs(g - b) < 12) & (r > 90) & (r < 180)).sum()  # references
    assert drawn > 0.005, f"3D viewer canvas is blank ({100 * drawn:.2f} % drawn)"
    assert red > 50 and grey > 50, f"expected red (invalid) and grey (reference) sticks: red {red}, grey {grey} px"
    assert "0 valid, 4 invalid" in info_worst and "4 valid, 0 invalid" in info_camphor
    img = np.asarray(Image.open(io.BytesIO(methane_shot)).convert("RGB")).astype(int)
    green = ((img[..., 1] > 120) & (img[..., 0] < 100) & (img[..., 2] < 110)).sum()
    assert green > 50, "a molecule with one heavy atom (no reference) still shows its atom"


def _bench_report() -> dict:
    row = lambda covr, amr, valid, cpu: {"COV-R_mean": covr, "COV-R_median": covr, "AMR-R_mean": amr, "AMR-R_median": amr, "COV-P_mean": covr / 2,  # noqa: E731
                                         "COV-P_median": covr / 2, "AMR-P_mean": amr + 0.3, "AMR-P_median": amr + 0.3, "validity": valid, "stereo_correct": valid,
                                         "n_generated": 120.0, "core_s_per_conformer": cpu, "conformers_per_s": 1 / cpu, "n_molecules_without_valid": 0.0}
    table = {"bondiff": row(0.0, float("nan"), 0.0, 0.7), "bondiff-mmff": row(0.661, 0.658, 0.83, 0.69), "etkdg": row(0.561, 0.811, 0.979, 0.0167), "etkdg-mmff": row(0.665, 0.663, 0.999, 0.0385)}
    return {"reference": "/data/hutchison_dev", "n_molecules": 60, "split": None, "samples_per_reference": 2, "deltas": [0.75, 0.5, 0.1],
            "machine": {"cores": 2, "affinity": 2}, "status": {s: "ok" for s in table}, "table": table}


def test_benchmark_page_in_chromium(tmp_path):
    from pipeline.benchmark.html import benchmark_html

    page_file = tmp_path / "report.html"
    page_file.write_text(benchmark_html(_bench_report()))
    chromium = _chromium.ensure_chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (extra `dev`) drives Chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=_chromium.CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(page_file.as_uri())
        widths = page.evaluate("[document.documentElement.scrollWidth, document.getElementById('benchmark').getBoundingClientRect().right]")
        cov_row = page.locator("#benchmark tbody tr").first.inner_text()
        verdict = page.inner_text("#verdict")
        browser.close()
    assert problems == [] and widths[0] <= 1280 and widths[1] <= 1280, (problems, widths)
    assert cov_row.startswith("COV-R mean (δ=0.75 Å)") and "recall" in cov_row
    assert "etkdg-mmff reproduces 66.5 %" in verdict and "bondiff-mmff is below ETKDG+MMFF" in verdict
