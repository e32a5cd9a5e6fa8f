"""``report.html`` of a validate run: the page a chemist reads.

1. **Headline**: model (name, hash, training data), sample run, date, input, sample settings; the
   numbers that matter (valid %, stereo %, COV-R / AMR-R / COV-P / AMR-P at δ), each with its unit
   and a one-line definition (:mod:`.glossary`); a plain-language verdict.
2. **Molecules**, worst first (lowest COV-R, or validity without a reference; then validity), sortable by any column:
   an RDKit depiction, conformers generated / valid, the failed checks with counts, stereo, the best
   RMSD to each reference, coverage, the relaxation properties the sampler wrote (``refined``,
   ``energy_kcal_mol``, ``refine_converged``, ``stereo_ok``; shown when present), a 3D button.
3. **3D view** (offline, 3Dmol.js embedded): a molecule's generated conformers on its aligned
   references, valid green, invalid red (:mod:`.viewer`).
4. **Plots** with captions that say what to look for; the failure counts; the record errors.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipeline.missing import is_missing
from pipeline.validate.glossary import CHECKS, METRICS, PLOT_CAPTIONS
from pipeline.validate.page import card, esc, facts, figure, fmt, page, utc_now, verdict_box

__all__ = ["write_html", "provenance", "verdict", "run_verdict", "worst_first_key", "MAX_VIEWER_MOLECULES"]

MAX_VIEWER_MOLECULES = 100  # the 3D payload of the worst molecules only (keeps the page small)
MAX_RMSD_CHIPS = 12
_TRUE = {"true", "1", "yes"}


def _most_common(values: Sequence[str]) -> str:
    vals = [v for v in values if v not in (None, "")]
    return Counter(vals).most_common(1)[0][0] if vals else ""


def _distinct(values: Sequence[str]) -> str:
    vals = sorted({v for v in values if v not in (None, "")})
    return ", ".join(vals[:4]) + (f" (+{len(vals) - 4})" if len(vals) > 4 else "")


def provenance(results: Sequence[Any]) -> dict[str, str]:
    """What the generated SDF says about how it was made (SDF properties, most common value)."""
    props = [rec.props for res in results for rec in res.gen.records]
    get = lambda k: [p.get(k, "") for p in props]  # noqa: E731
    return {
        "model": _most_common(get("model")) or _most_common(get("model_version")),
        "run_id": _distinct(get("run_id")),
        "sampler": _distinct(get("sampler")),
        "steps": _distinct(get("steps")),
        "seed": _distinct(get("seed")),
        "refined": _distinct(get("refined")),
    }


def _float(text: str | None) -> float | None:
    m = re.match(r"\s*(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)", text or "")
    return float(m.group(1)) if m else None


def _refinement_cell(res: Any) -> tuple[str, bool]:
    """(HTML, present?) from the per-conformer properties refined / energy_kcal_mol / refine_converged / stereo_ok."""
    props = [rec.props for rec in res.gen.records]
    if not any(k in p for p in props for k in ("refined", "energy_kcal_mol", "refine_converged", "stereo_ok")):
        return "", False
    n = len(props)
    bits = []
    refined = _distinct([p.get("refined", "") for p in props])
    if refined:
        bits.append(esc(refined))
    conv = [p["refine_converged"].strip().lower() in _TRUE for p in props if "refine_converged" in p]
    if conv:
        bits.append(f"{sum(conv)}/{len(conv)} converged")
    energies = [e for e in (_float(p.get("energy_kcal_mol")) for p in props) if e is not None]
    if energies:
        bits.append(f"E {min(energies):.1f} to {max(energies):.1f} kcal/mol" if len(energies) > 1 else f"E {energies[0]:.1f} kcal/mol")
    st = [p["stereo_ok"].strip().lower() in _TRUE for p in props if "stereo_ok" in p]
    if st:
        bits.append(f"stereo ok {sum(st)}/{len(st)}")
    return '<span class="small">' + "<br>".join(bits or [f"{n} records"]) + "</span>", True


def verdict(m: dict[str, float], checks_failed: Counter, delta: float, demo: str = "") -> tuple[str, str]:
    """(sentence, tone good|warn|bad) from the summary metrics and the failure counts."""
    n = int(m.get("n_records", 0))
    v = float(m.get("validity", 0.0))
    parts = []
    top = [c for c, _ in checks_failed.most_common() if c != "record"][:2]
    why = (" Most frequent failures: " + ", ".join(f"{c} ({checks_failed[c]} of {n}: {CHECKS.get(c, c)})" for c in top) + ".") if top else ""
    if v >= 0.95:
        tone = "good"
        parts.append(f"Usable: {100 * v:.1f} % of the {n} conformers pass every check.")
    elif v >= 0.5:
        tone = "warn"
        parts.append(f"Use with care: only {100 * v:.1f} % of the {n} conformers pass every check.{why}")
    else:
        tone = "bad"
        parts.append(f"Not usable as they are: {100 * v:.1f} % of the {n} conformers pass every check.{why}")
        if top and set(top) & {"connectivity", "bond_lengths", "energy"}:
            parts.append("Raw diffusion samples need relaxing: sample with --refine mmff.")
    s = m.get("stereo_correct")
    if not is_missing(s) and s < 0.99:
        parts.append(f"Stereo is wrong in {100 * (1 - s):.1f} % of the conformers that have stereocentres or E/Z bonds.")
    if "COV-R_mean" in m and math.isfinite(m["COV-R_mean"]):
        amr = m.get("AMR-R_mean", float("nan"))
        amr_txt = f" (AMR-R {amr:.2f} Å)" if math.isfinite(amr) else ""
        parts.append(f"At δ = {delta:g} Å a valid conformer reproduces {100 * m['COV-R_mean']:.1f} % of the reference conformers on average{amr_txt}.")
        nv = int(m.get("n_molecules_no_valid", 0))
        if nv:
            parts.append(f"{nv} of {int(m.get('n_molecules_scored', 0))} molecules have no valid conformer (coverage 0).")
    if demo:
        parts.append(demo)
        tone = "bad" if tone == "bad" else "warn"
    return " ".join(parts), tone


def _failed_counts(rows: Sequence[dict]) -> Counter:
    c: Counter = Counter()
    for r in rows:
        for name in str(r.get("failed", "") or "").split(","):
            if name:
                c[name] += 1
    return c


def _rmsd_chips(res: Any, delta: float) -> tuple[str, float]:
    """Per reference: RMSD of its closest valid conformer (grey italics: only invalid ones, their best)."""
    D = res.rmsd
    if D is None or not D.size:
        return ("–" if res.ref_name else '<span class="small">no reference</span>'), math.inf
    valid = np.array([bool(r["valid"]) for r in res.rows], dtype=bool)
    chips, best = [], math.inf
    with np.errstate(all="ignore"):
        for k in range(D.shape[0]):
            row = D[k]
            if valid.any() and np.isfinite(row[valid]).any():
                v = float(np.nanmin(row[valid]))
                best = min(best, v)
                chips.append(f'<span class="chip {"ok" if v < delta else "no"}" title="reference {k + 1}: closest valid conformer">{v:.2f}</span>')
            elif np.isfinite(row).any():
                chips.append(f'<span class="chip inv" title="reference {k + 1}: no valid conformer; closest invalid one">{float(np.nanmin(row)):.2f}</span>')
            else:
                chips.append('<span class="chip inv">–</span>')
    more = f' <span class="small">+{len(chips) - MAX_RMSD_CHIPS} more</span>' if len(chips) > MAX_RMSD_CHIPS else ""
    return "".join(chips[:MAX_RMSD_CHIPS]) + more, best


def _has_refinement(results: Sequence[Any]) -> bool:
    return any(k in rec.props for res in results for rec in res.gen.records for k in ("refined", "energy_kcal_mol", "refine_converged", "stereo_ok"))


def _molecule_rows(results: Sequence[Any], mol_df: Any, delta: float, viewable: set[str], with_refine: bool) -> list[tuple[tuple, str]]:
    from pipeline.validate.depict import depict_svg

    out = []
    dkey = f"{delta:g}"
    for i, res in enumerate(results):
        mrow = mol_df.iloc[i] if i < len(mol_df) else {}
        n_rec = len(res.gen.records) + len(res.gen.bad_records)
        n_valid = sum(bool(r["valid"]) for r in res.rows)
        fails = _failed_counts(res.rows)
        if res.gen.bad_records:
            fails["record"] += len(res.gen.bad_records)
        fail_html = "<br>".join(f'<span title="{esc(CHECKS.get(c, c))}">{esc(c)} <b>{k}</b></span>' for c, k in fails.most_common()) or '<span class="small">none</span>'
        if res.error:
            fail_html += f'<br><span class="small">{esc(res.error[:200])}</span>'
        st = [r.get("stereo_centres") is not False and r.get("stereo_bonds") is not False for r in res.rows]
        has_stereo = any((r.get("n_stereo_centres") or 0) + (r.get("n_stereo_bonds") or 0) for r in res.rows)
        stereo = f"{sum(st)}/{len(st)}" if has_stereo and st else '<span class="small">none</span>'
        chips, best = _rmsd_chips(res, delta)
        covr = mrow.get(f"COV-R_{dkey}") if hasattr(mrow, "get") else None
        covp = mrow.get(f"COV-P_{dkey}") if hasattr(mrow, "get") else None
        amr_r = mrow.get("AMR-R") if hasattr(mrow, "get") else None
        amr_p = mrow.get("AMR-P") if hasattr(mrow, "get") else None
        refine_html, _ = _refinement_cell(res)
        frac = n_valid / n_rec if n_rec else 0.0
        name = res.gen.name
        ref_note = f'<br><span class="small">reference: {esc(res.ref_name)}</span>' if res.ref_name and res.ref_name != name else ""
        button = f'<button data-view="{esc(name)}" title="show in the 3D view">3D</button>' if name in viewable else ""
        cov_v = -1.0 if is_missing(covr) else float(covr)
        cells = [
            f"<td>{depict_svg(res.gen.smiles or res.gen.mol) if (res.gen.smiles or res.gen.mol is not None) else ''}</td>",
            f'<td data-v="{esc(name)}"><b>{esc(name)}</b><br><span class="mono">{esc(res.gen.smiles or "")}</span>{ref_note}</td>',
            f'<td class="num" data-v="{frac:.6f}">{n_valid} / {n_rec}<div class="bar"><span style="width:{100 * frac:.0f}%"></span></div></td>',
            f'<td data-v="{sum(fails.values())}">{fail_html}</td>',
            f'<td class="num" data-v="{(sum(st) / len(st)) if st else 1:.4f}">{stereo}</td>',
            f'<td data-v="{best if math.isfinite(best) else 1e9:.4f}">{chips}</td>',
            f'<td class="num" data-v="{cov_v:.4f}">{fmt(covr, "pct")} / {fmt(covp, "pct")}</td>',
            f'<td class="num" data-v="{1e9 if is_missing(amr_r) else float(amr_r):.4f}">{fmt(amr_r, "f2")} / {fmt(amr_p, "f2")}</td>',
            *([f"<td>{refine_html}</td>"] if with_refine else []),
            f"<td>{button}</td>",
        ]
        out.append((worst_first_key(res, covr), "<tr>" + "".join(cells) + "</tr>"))
    out.sort(key=lambda t: t[0])
    return out


def worst_first_key(res: Any, cov_r: Any) -> tuple:
    """Sort key, worst molecule first: coverage (COV-R at δ; validity when there is no reference), then
    validity, then the RMSD of the closest conformer to any reference, valid or not (largest first)."""
    n_rec = len(res.gen.records) + len(res.gen.bad_records)
    frac = sum(bool(r["valid"]) for r in res.rows) / n_rec if n_rec else 0.0
    scored = not is_missing(cov_r)
    D = res.rmsd
    closest = float(np.nanmin(D)) if D is not None and D.size and np.isfinite(D).any() else math.inf
    return (float(cov_r) if scored else frac, frac, -closest, res.gen.name)  # ties: farthest from the references first


def _short_path(label: str, keep: int = 3) -> str:
    """The last ``keep`` components of a long path-like label (the full one goes in a tooltip)."""
    parts = label.split("/")
    return label if len(parts) <= keep + 1 or label.startswith("models:/") else "…/" + "/".join(parts[-keep:])


def _all_failures(results: Sequence[Any]) -> Counter:
    fails = _failed_counts([r for res in results for r in res.rows])
    n_bad = sum(len(res.gen.bad_records) for res in results)
    if n_bad:
        fails["record"] += n_bad
    return fails


def run_verdict(summary: dict, results: Sequence[Any], delta: float) -> dict[str, str]:
    """``{"text", "tone", "model"}``: the verdict of a validate run (``summary.json``, the page, the terminal)."""
    from pipeline.model_catalog import model_summary

    ms = model_summary(provenance(results)["model"])
    demo = (f"These conformers come from a short training run ({ms.detail}): read the numbers as a demonstration of the pipeline, "
            "not as what a trained bondiff model does (`bondiff models` lists the models and which is which).") if ms.demo else ""
    text, tone = verdict(summary["metrics"], _all_failures(results), delta, demo)
    return {"text": text, "tone": tone, "model": ms.label}


def _headline(summary: dict, prov: dict[str, str], results: Sequence[Any], delta: float) -> str:
    """Facts + cards HTML."""
    from pipeline.model_catalog import model_summary

    src = summary.get("source", {})
    m = summary["metrics"]
    ms = model_summary(prov["model"])
    model_html = f'<b title="{esc(ms.label)}">{esc(_short_path(ms.label))}</b>' + (f" — {esc(ms.detail)}" if ms.detail else "")
    if ms.demo:
        model_html += ' <span class="chip no">short run: demo</span>'
    gen = Path(str(src.get("generated") or ""))
    ref = src.get("reference")
    n_mol = len(results)
    settings = []
    if prov["sampler"]:
        settings.append(f"sampler {esc(prov['sampler'])}")
    if prov["steps"]:
        settings.append(f"{esc(prov['steps'])} steps")
    if prov["seed"]:
        settings.append(f"seed {esc(prov['seed'])}")
    settings.append(f"relaxation: {esc(prov['refined'])}" if prov["refined"] else "relaxation: not recorded in the SDF")
    per_mol = [len(r.gen.records) + len(r.gen.bad_records) for r in results]
    if per_mol:
        settings.append(f"{min(per_mol)}–{max(per_mol)} conformers per molecule" if min(per_mol) != max(per_mol) else f"{per_mol[0]} conformers per molecule")
    items = [
        ("Model", model_html),
        ("Sample run (MLflow)", f'<span class="mono">{esc(prov["run_id"])}</span>' if prov["run_id"] else "not tracked (no run_id in the SDF)"),
        ("Report written", esc(utc_now())),
        ("Input", f'<code title="{esc(gen)}">{esc(gen.name)}</code>' + (f' in <span class="small">{esc(gen.parent)}</span>' if str(gen.parent) not in ("", ".") else "") + f': {int(m.get("n_records", 0))} records, {n_mol} molecules, {int(m.get("n_errors", 0))} record errors'),
        ("Reference", (f'<code title="{esc(ref)}">{esc(Path(str(ref)).name)}</code> — {int(m.get("n_molecules_scored", 0))} molecules matched; δ = {delta:g} Å' if ref else "none (checks only, no coverage)")),
        ("Sample settings", " · ".join(settings)),
    ]
    cards = []
    for key, metric, kind in (("validity", "validity", "pct"), ("stereo_correct", "stereo_correct", "pct"), ("COV-R", "COV-R_mean", "pct"), ("AMR-R", "AMR-R_mean", "f3"), ("COV-P", "COV-P_mean", "pct"), ("AMR-P", "AMR-P_mean", "f3"), ("core_s_per_conformer", "core_s_per_conformer", "f3")):
        label, unit, definition = METRICS[key]
        if key.startswith(("COV", "AMR")):
            if not ref:
                continue
            label = f"{label} (δ = {delta:g} Å)" if key.startswith("COV") else label
            definition += "; mean over molecules"
        v = m.get(metric, src.get(metric))
        cards.append(card(label, fmt(v, kind), unit, definition))
    return facts(items) + '<div class="cards">' + "".join(cards) + "</div>"


def write_html(out_dir: Path, summary: dict, images: Sequence[Path], mol_df: Any, results: Sequence[Any], reference_set: Any, delta: float) -> str:
    """The page's HTML (the caller writes it atomically)."""
    from pipeline.validate.viewer import VIEWER_JS, threedmol_js, viewer_molecule

    m = summary["metrics"]
    prov = provenance(results)
    head = _headline(summary, prov, results, delta)
    fails = _all_failures(results)
    v = summary.get("verdict") or run_verdict(summary, results, delta)
    text, tone = v["text"], v["tone"]

    # the 3D payload: the worst molecules first (the table's default order)
    covr_col = f"COV-R_{delta:g}"
    order = sorted(range(len(results)), key=lambda i: worst_first_key(results[i], mol_df.iloc[i].get(covr_col) if i < len(mol_df) else None))
    payload: dict[str, Any] = {}
    for i in order:
        if len(payload) >= MAX_VIEWER_MOLECULES:
            break
        res = results[i]
        ref_mol = reference_set.molecule(res.ref_index) if reference_set is not None and res.ref_index is not None else None
        try:
            p = viewer_molecule(res, ref_mol)
        except Exception:  # a molecule the viewer cannot align is left out of the viewer, not the report
            p = None
        if p is not None:
            payload[res.gen.name] = p
    with_refine = _has_refinement(results)
    rows = _molecule_rows(results, mol_df, delta, set(payload), with_refine)

    columns = [
        ("12%", "structure"), ("16%" if with_refine else "19%", "molecule"), ("8%", "valid / made"), ("14%", "failed checks (conformers)"),
        ("6%", "stereo ok"), ("15%" if with_refine else "21%", "best RMSD to each reference (Å; green < δ)"),
        ("8%", f"COV-R / COV-P % (δ {delta:g} Å)"), ("8%", "AMR-R / AMR-P Å"), *([("9%", "relaxation (SDF properties)")] if with_refine else []), ("4%", ""),
    ]
    cols = "".join(f'<col style="width:{w}">' for w, _ in columns)
    th = "".join(f"<th>{esc(h)}</th>" for _, h in columns)
    body_rows = "".join(r for _, r in rows)
    table = f'<table class="data" id="molecules"><colgroup>{cols}</colgroup><thead><tr>{th}</tr></thead><tbody>{body_rows}</tbody></table>'

    options = "".join(f'<option value="{esc(n)}">{esc(n)} ({sum(g["valid"] for g in p["gen"])}/{len(p["gen"])} valid)</option>' for n, p in payload.items())
    viewer = ""
    if payload:
        viewer = (
            '<h2 id="view3d">3D view</h2>'
            f'<p>Molecule <select id="viewer-mol">{options}</select> '
            '<label><input type="checkbox" id="v-ref" checked> references <span class="chip" style="background:#8a8a8a;color:white">grey</span></label> '
            '<label><input type="checkbox" id="v-valid" checked> valid <span class="chip" style="background:#2e9e44;color:white">green</span></label> '
            '<label><input type="checkbox" id="v-invalid" checked> invalid <span class="chip" style="background:#d43c3c;color:white">red</span></label></p>'
            '<div style="border:1px solid #ddd;border-radius:6px;padding:1px"><div id="viewer" style="position:relative;width:100%;height:460px"></div></div>'
            '<p class="small" id="viewer-info"></p>'
            '<p class="small">Drag to rotate, scroll to zoom. Works offline (3Dmol.js 2.5.5, BSD-3-Clause, embedded).</p>'
        )
    data_json = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    plots = "".join(figure(p, *PLOT_CAPTIONS.get(p.stem, (p.stem, ""))) for p in images)
    fail_rows = "".join(f"<tr><td>{esc(c)}</td><td class=\"num\">{k}</td><td>{esc(CHECKS.get(c, ''))}</td></tr>" for c, k in fails.most_common())
    fail_table = f'<table class="data" style="width:auto;max-width:100%"><thead><tr><th>check</th><th class="num">conformers failing</th><th>what it means</th></tr></thead><tbody>{fail_rows}</tbody></table>' if fail_rows else "<p>No conformer failed a check.</p>"
    errs = summary.get("errors", [])
    err_html = "<ul>" + "".join(f"<li>{esc(e)}</li>" for e in errs) + "</ul>" if errs else "<p>None.</p>"
    title = f"Validation of {Path(str(summary.get('source', {}).get('generated') or '')).name}"
    body = (
        f"<h1>{esc(title)}</h1>{head}{verdict_box(text, tone)}"
        f"<h2>Molecules ({len(results)}), worst first</h2><p class=\"small\">Click a column header to sort. Hover a failed check for what it means. "
        f"Per-conformer results (one row per SDF record): <code>conformers.csv</code>; per molecule: <code>molecules.csv</code>; numbers: <code>summary.json</code>.</p>{table}"
        f"{viewer}<h2>Plots</h2>{plots or '<p>No plots (plots: false).</p>'}"
        f"<h2>Why conformers failed</h2>{fail_table}"
        f"<h2>Record errors ({int(m.get('n_errors', 0))})</h2>{err_html}"
        f'<script type="application/json" id="viewer-data">{data_json}</script>'
    )
    scripts = [threedmol_js(), VIEWER_JS] if payload else []
    return page(title, body, scripts)
