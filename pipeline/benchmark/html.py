"""``report.html`` of a benchmark: the side-by-side table a chemist reads.

A headline (reference set, molecules, conformers per molecule, δ, date, machine, the bondiff model),
a plain-language verdict (which sampler covers the references best, which ones give valid
conformers), the table with every row's unit and definition (:mod:`pipeline.validate.glossary`) and
the best value of each row in bold, and links to each sampler's own validation report.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from pipeline.benchmark.table import _rows
from pipeline.validate.glossary import metric_info
from pipeline.validate.page import esc, facts, fmt, page, utc_now, verdict_box

__all__ = ["benchmark_html", "benchmark_verdict"]

#: rows where the higher value is better; AMR, MAE and CPU time: lower is better; counts: no best
_HIGHER = ("COV-", "validity", "stereo_correct", "conformers_per_s")
_LOWER = ("AMR-", "bond_mae", "angle_mae", "core_s_per_conformer")


def _best(key: str, values: dict[str, Any]) -> set[str]:
    vals = {s: float(v) for s, v in values.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    if len(vals) < 2:
        return set()
    if key.startswith(_HIGHER):
        top = max(vals.values())
    elif key.startswith(_LOWER):
        top = min(vals.values())
    else:
        return set()
    return {s for s, v in vals.items() if abs(v - top) <= 1e-9}


def _num(row: dict[str, Any], key: str) -> float:
    """A metric as a float; missing or None (NaN in JSON: no valid conformer to measure) is NaN."""
    value = row.get(key)
    return math.nan if value is None else float(value)


def benchmark_verdict(table: dict[str, dict[str, Any]], delta: float) -> tuple[str, str]:
    """(sentence, tone) comparing the samplers that ran."""
    ok = {s: row for s, row in table.items() if math.isfinite(_num(row, "COV-R_mean"))}
    if not ok:
        return "No sampler produced conformers to score.", "bad"
    best = max(ok, key=lambda s: (_num(ok[s], "COV-R_mean"), -_num(ok[s], "AMR-R_mean") if math.isfinite(_num(ok[s], "AMR-R_mean")) else -math.inf))
    parts = [f"Best recall: {best} reproduces {100 * ok[best]['COV-R_mean']:.1f} % of the reference conformers within δ = {delta:g} Å on average"
             + (f" (AMR-R {ok[best]['AMR-R_mean']:.3f} Å)." if math.isfinite(_num(ok[best], "AMR-R_mean")) else ".")]
    bad = [f"{s} ({100 * r.get('validity', 0):.1f} %)" for s, r in ok.items() if r.get("validity", 0) < 0.95]
    good = [s for s, r in ok.items() if r.get("validity", 0) >= 0.95]
    if good:
        parts.append(f"Valid conformers ≥ 95 %: {', '.join(good)}.")
    if bad:
        parts.append(f"Fewer valid conformers: {', '.join(bad)}; invalid ones cannot cover a reference.")
    if "bondiff-mmff" in ok and "etkdg-mmff" in ok:
        a, b = ok["bondiff-mmff"], ok["etkdg-mmff"]
        cmp = "above" if a["COV-R_mean"] > b["COV-R_mean"] else "below" if a["COV-R_mean"] < b["COV-R_mean"] else "level with"
        parts.append(f"Relaxed alike, bondiff-mmff is {cmp} ETKDG+MMFF in COV-R ({100 * a['COV-R_mean']:.1f} vs {100 * b['COV-R_mean']:.1f} %).")
    tone = "good" if ok[best].get("validity", 0) >= 0.95 and not bad else "warn"
    return " ".join(parts), tone


def benchmark_html(report: dict[str, Any], bondiff_model: str | None = None) -> str:
    """The page for ``benchmark.json``'s content (``report``); links are relative to the benchmark dir."""
    from pipeline.model_catalog import model_summary

    table, status, deltas = report["table"], report["status"], report["deltas"]
    samplers = list(status)
    ref = Path(str(report["reference"]))
    items = [
        ("Reference", f'<code title="{esc(ref)}">{esc(ref.name)}</code>' + (f", split {esc(report['split'])}" if report.get("split") else "")),
        ("Molecules", f"{report['n_molecules']}; each sampler makes {report['samples_per_reference']}K conformers for a molecule with K reference conformers"),
        ("δ", ", ".join(f"{d:g} Å" for d in deltas) + " (the first is the headline threshold)"),
        ("Report written", esc(utc_now())),
        ("Machine", f"{report.get('machine', {}).get('affinity') or report.get('machine', {}).get('cores')} cores; CPU-seconds are the fair speed figure, wall-clock depends on the load"),
        ("Samplers", " · ".join(f"{esc(s)}: {esc(st)}" for s, st in status.items())),
    ]
    if any(s.startswith("bondiff") for s in samplers):
        ms = model_summary(bondiff_model or "shipped")
        items.append(("bondiff model", f"<b>{esc(ms.label)}</b>" + (f" — {esc(ms.detail)}" if ms.detail else "")))
    text, tone = benchmark_verdict(table, deltas[0])

    head = "<th>metric</th><th>unit</th>" + "".join(f'<th class="num">{esc(s)}</th>' for s in samplers) + "<th>what it means</th>"
    body = []
    for key, label, kind in _rows(deltas):
        try:
            _, unit, definition = metric_info(key)
        except KeyError:
            unit, definition = "", ""
        if kind == "pct":
            unit = "%"
        if key.endswith("_median"):
            definition = "the same, median over molecules"
        values = {s: table.get(s, {}).get(key) for s in samplers}
        best = _best(key, values)
        cells = "".join(
            f'<td class="num">{"<b>" if s in best else ""}{fmt(values[s], kind) if s in table else "n/a"}{"</b>" if s in best else ""}</td>' for s in samplers
        )
        name = re.sub(r" (%|Å|°)$", "", label)  # the unit has its own column
        body.append(f"<tr><td>{esc(name)}</td><td>{esc(unit)}</td>{cells}<td class=\"small\">{esc(definition)}</td></tr>")
    width = max(7, min(11, 48 // max(1, len(samplers))))
    cols = f'<col style="width:20%"><col style="width:5%">' + "".join(f'<col style="width:{width}%">' for _ in samplers) + "<col>"
    tbl = f'<table class="data" id="benchmark"><colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    links = "".join(f'<li><a href="{esc(s)}/validate/report.html">{esc(s)}</a>: every molecule, its failed checks and a 3D view</li>' for s in samplers if s in table)
    title = f"Benchmark on {ref.name}"
    html_body = (
        f"<h1>{esc(title)}</h1>{facts(items)}{verdict_box(text, tone)}"
        f"<h2>Side by side</h2><p class=\"small\">Bold: the best value of a row. Means and medians are over molecules; a molecule a sampler made no valid conformer for counts as coverage 0.</p>{tbl}"
        f"<h2>Per-sampler validation reports</h2><ul>{links}</ul>"
        f"<p class=\"small\">The same numbers: <code>table.md</code>, <code>table.txt</code>, <code>benchmark.json</code>.</p>"
    )
    return page(title, html_body)
