"""Two benchmark runs of one sampler, molecule by molecule: ``python -m pipeline.benchmark.paired A B``.

Is model B better than model A on the dev set, or is the difference sampling noise? The benchmark's headline
means move by a few points between two seeds of one model: each molecule's coverage is a fraction of ~10
references, decided by ~20 samples. Pairing the molecules removes what the molecules themselves contribute;
what is left is the spread of the per-molecule differences. For each metric this prints A's and B's mean over
the molecules both runs scored, the mean difference B − A and its standard error
(std of the differences / √n), and a verdict: "B better" / "A better" when the difference is more than two
standard errors in the metric's good direction, else "within noise".

``A`` and ``B`` are ``bondiff benchmark --out`` folders (their ``SAMPLER/validate``, ``--sampler`` default
``bondiff``) or ``bondiff validate`` output folders. Coverage and validity of a molecule with nothing
generated count as 0 (as in the benchmark's table); AMR pairs where either run has no value are left out.
Validity here is the mean over molecules of each one's valid fraction (the table's is over conformers).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from pipeline.atomic import write_file_atomic

__all__ = ["METRICS", "paired_differences", "main"]

#: (column of molecules.csv, label, +1 if higher is better else -1, missing value: 0 or None = drop the pair)
METRICS: tuple[tuple[str, str, int, float | None], ...] = (
    ("validity", "valid fraction", +1, 0.0),
    ("stereo_correct", "stereo correct", +1, None),
    ("COV-R_0.75", "COV-R δ 0.75 Å", +1, 0.0),
    ("COV-R_0.5", "COV-R δ 0.5 Å", +1, 0.0),
    ("COV-R_0.1", "COV-R δ 0.1 Å", +1, 0.0),
    ("COV-P_0.75", "COV-P δ 0.75 Å", +1, 0.0),
    ("AMR-R", "AMR-R Å", -1, None),
    ("AMR-P", "AMR-P Å", -1, None),
)


def paired_differences(a: Any, b: Any, metrics=METRICS) -> list[dict[str, Any]]:
    """One record per metric present in both per-molecule tables (pandas, a ``name`` column each):
    ``{"metric", "label", "n", "a", "b", "diff", "se", "verdict"}``, over the molecules both tables hold."""
    import numpy as np

    ta, tb = a.drop_duplicates("name").set_index("name"), b.drop_duplicates("name").set_index("name")
    names = [n for n in ta.index if n in tb.index]
    out = []
    for col, label, sign, missing in metrics:
        if col not in ta or col not in tb:
            continue
        va = ta.loc[names, col].astype(float).to_numpy()
        vb = tb.loc[names, col].astype(float).to_numpy()
        if missing is None:
            keep = np.isfinite(va) & np.isfinite(vb)
            va, vb = va[keep], vb[keep]
        else:
            va, vb = np.nan_to_num(va, nan=missing), np.nan_to_num(vb, nan=missing)
        n = len(va)
        if n == 0:
            continue
        d = vb - va
        se = float(np.std(d, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
        diff = float(d.mean())
        verdict = "within noise"
        if math.isfinite(se) and abs(diff) > 2 * se:
            verdict = "B better" if diff * sign > 0 else "A better"
        out.append({"metric": col, "label": label, "n": n, "a": float(va.mean()), "b": float(vb.mean()),
                    "diff": diff, "se": se, "verdict": verdict})
    return out


def _validate_dir(path: Path, sampler: str) -> Path:
    from pipeline.validate.report import molecule_table_path

    for cand in (path / sampler / "validate", path):
        if molecule_table_path(cand) is not None:
            return cand
    raise FileNotFoundError(f"{path}: neither a benchmark folder with {sampler}/validate/ nor a validate output folder")


def main(argv: list[str] | None = None) -> int:
    from pipeline.validate.report import read_molecule_table

    ap = argparse.ArgumentParser(prog="python -m pipeline.benchmark.paired", description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path, metavar="A", help="the baseline: a bondiff benchmark --out folder or a validate folder")
    ap.add_argument("b", type=Path, metavar="B", help="the candidate, the same kind of folder")
    ap.add_argument("--sampler", default="bondiff", help="which sampler of a benchmark folder (default: bondiff)")
    ap.add_argument("--json", type=Path, help="write the records here")
    args = ap.parse_args(argv)
    try:
        tables = [read_molecule_table(_validate_dir(p, args.sampler)) for p in (args.a, args.b)]
    except (FileNotFoundError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = paired_differences(*tables)
    if not rows:
        print(f"error: {args.a} and {args.b} have no molecule and metric in common", file=sys.stderr)
        return 2
    print(f"A = {args.a}\nB = {args.b}\n")
    print("| metric | molecules | A | B | B − A | ± SE | verdict (2 SE) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {r['n']} | {r['a']:.3f} | {r['b']:.3f} | {r['diff']:+.3f} | {r['se']:.3f} | {r['verdict']} |")
    if args.json:
        write_file_atomic(args.json, json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
