"""The side-by-side benchmark table: plain text for the terminal, Markdown for the README."""

from __future__ import annotations

from typing import Any, Sequence

from pipeline.validate.page import fmt as _fmt

__all__ = ["ROWS", "format_table", "markdown_table"]


def _rows(deltas: Sequence[float]) -> list[tuple[str, str, str]]:
    """(metric key, label, format) in display order."""
    d0 = deltas[0]
    rows = [
        ("COV-R_mean", f"COV-R mean (δ={d0:g} Å) %", "pct"),
        ("COV-R_median", f"COV-R median (δ={d0:g} Å) %", "pct"),
        ("AMR-R_mean", "AMR-R mean Å", "f3"),
        ("AMR-R_median", "AMR-R median Å", "f3"),
        ("COV-P_mean", f"COV-P mean (δ={d0:g} Å) %", "pct"),
        ("COV-P_median", f"COV-P median (δ={d0:g} Å) %", "pct"),
        ("AMR-P_mean", "AMR-P mean Å", "f3"),
        ("AMR-P_median", "AMR-P median Å", "f3"),
    ]
    for d in deltas[1:]:
        rows += [(f"COV-R_{d:g}_mean", f"COV-R mean (δ={d:g} Å) %", "pct"), (f"COV-P_{d:g}_mean", f"COV-P mean (δ={d:g} Å) %", "pct")]
    rows += [
        ("validity", "valid conformers %", "pct"),
        ("stereo_correct", "stereo correct %", "pct"),
        ("bond_mae", "bond-length MAE vs references Å", "f3"),
        ("angle_mae", "bond-angle MAE vs references °", "f1"),
        ("n_molecules_without_valid", "molecules without a valid conformer", "int"),
        ("n_generated", "conformers generated", "int"),
        ("conformers_per_s", "conformers / s", "f1"),
        ("core_s_per_conformer", "core-seconds / conformer", "f4"),
    ]
    return rows


ROWS = _rows([0.75, 0.5, 0.1])


def _cells(table: dict[str, dict[str, Any]], status: dict[str, str], deltas: Sequence[float]) -> tuple[list[str], list[list[str]]]:
    samplers = list(status)
    out = []
    for key, label, kind in _rows(deltas):
        out.append([label] + [_fmt(table[s].get(key), kind) if s in table else "n/a" for s in samplers])
    return ["metric"] + samplers, out


def format_table(table: dict[str, dict[str, Any]], status: dict[str, str], deltas: Sequence[float]) -> str:
    head, rows = _cells(table, status, deltas)
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    line = lambda r: "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))  # noqa: E731
    text = [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]
    for s, st in status.items():
        if st != "ok":
            text.append(f"{s}: {st}")
    return "\n".join(text)


def markdown_table(table: dict[str, dict[str, Any]], status: dict[str, str], deltas: Sequence[float]) -> str:
    head, rows = _cells(table, status, deltas)
    text = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    text += ["| " + " | ".join(r) + " |" for r in rows]
    notes = [f"- {s}: {st}" for s, st in status.items() if st != "ok"]
    return "\n".join(text + ([""] + notes if notes else []))
