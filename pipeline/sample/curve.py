"""Quality vs network evaluations: the benchmark behind the default sampler and step count.

    python -m pipeline.sample.curve --reference data/hutchison_dev --limit 20 --samples 8 --out work/curve_hutchison
    python -m pipeline.sample.curve --reference work/qm9_1500 --split test --limit 50 --samples 2 --delta 0.5 --out work/curve_qm9
    python -m pipeline.sample.curve --plot work/curve_hutchison/curve.json work/curve_qm9/curve.json --out docs/img/sample_curve.png

For every solver and every budget of network evaluations per conformer (``--evals``; a solver with k
evaluations per step gets ``round((E − 1 − c)/k)`` steps, the final denoise and ``c`` corrector passes the last ones) the same
molecules get ``--samples`` conformers each, drawn with the default model (``--model`` for another)
*without* stereo redraws, and are scored with the validate stage: raw validity, stereo per centre
and per double bond of the raw draws, and — after the default relaxation (MMFF94, UFF fallback,
``refine_max_iters``) — validity and COV-R / AMR-R against the reference conformers (only valid
conformers cover). Sampling CPU-seconds per conformer are reported too. Prints one table and writes
``curve.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

from pipeline.atomic import write_file_atomic

__all__ = ["main", "steps_for"]


def steps_for(sampler: str, evals: int, corrector_passes: int = 0) -> int:
    """Solver steps that spend ``evals`` network evaluations per conformer (final denoise and corrector passes included)."""
    from pipeline.diffusion.samplers import EVALS_PER_STEP, network_evaluations
    from pipeline.sample.config import SAMPLER_METHODS

    method = SAMPLER_METHODS[sampler]
    fixed = network_evaluations(method, 0, corrector_passes=corrector_passes)  # the final denoise and the corrector
    return max(1, round((evals - fixed) / EVALS_PER_STEP[method]))


def _write(path: Path, mols: Sequence[Any], names: Sequence[str], smiles: Sequence[str]) -> None:
    from pipeline.sample.sdf import conformer_records, write_sdf

    write_sdf(path, (r for m, n, s in zip(mols, names, smiles) if m is not None for r in conformer_records(m, n, {"SMILES": s})))


def _relaxed(mols: Sequence[Any], max_iters: int) -> list[Any]:
    """Copies of ``mols`` with every conformer relaxed as ``bondiff sample`` does (one at a time)."""
    from rdkit import Chem

    from pipeline.chem import conformer_coords, set_conformers
    from pipeline.sample.refine import Relaxer

    out = []
    for m in mols:
        c = Chem.Mol(m)
        if m.GetNumConformers():
            r = Relaxer(m, max_iters)
            set_conformers(c, [r.relax(x).coords for x in conformer_coords(m)])
        out.append(c)
    return out


def _point(args: argparse.Namespace, molecules: list[Any], ref_path: Path, model: Any, spec: Any, sampler: str, evals: int) -> dict[str, Any]:
    from pipeline.benchmark.runner import sampler_metrics
    from pipeline.sample.config import DivergenceConfig
    from pipeline.sample.generate import generate_detailed
    from pipeline.validate.config import ValidateConfig
    from pipeline.validate.stage import run_validate

    steps = steps_for(sampler, evals, args.corrector_passes)
    names, smiles = [bm.name for bm in molecules], [bm.smiles for bm in molecules]
    c0 = time.process_time()
    out = generate_detailed(
        [bm.mol for bm in molecules], model, spec, args.samples, sampler=sampler, steps=steps, seed=args.seed, grid=args.grid,
        corrector_passes=args.corrector_passes, refine="none", divergence=DivergenceConfig(retry_wrong_stereo=False), progress=False, atom_budget=args.atom_budget,
    )
    cpu = time.process_time() - c0
    work = args.out / f"{sampler}_{evals}"
    vcfg = ValidateConfig(workers=1, plots=False, html=False, table_format="csv")
    vcfg.metrics.delta = args.delta
    _write(work / "raw.sdf", out.mols, names, smiles)
    raw = run_validate(vcfg, work / "raw.sdf", None, work / "raw_validate").extra["summary"]["metrics"]
    _write(work / "relaxed.sdf", _relaxed(out.mols, args.refine_max_iters), names, smiles)
    res = run_validate(vcfg, work / "relaxed.sdf", ref_path, work / "relaxed_validate")
    import pandas as pd

    table = pd.read_csv(work / "relaxed_validate" / "molecules.csv")
    n_req = args.samples * len(molecules)
    row = sampler_metrics(table, res.extra["summary"], molecules, {"n_requested": n_req}, [args.delta])
    first_c, first_d = out.stats.first_draw.fractions()
    return {
        "sampler": sampler, "evals": evals, "steps": steps, "grid": args.grid, "corrector_passes": args.corrector_passes,
        "conformers": out.stats.generated, "sampling_cpu_s_per_conformer": cpu / max(out.stats.generated, 1),
        "raw_valid": float(raw.get("validity", float("nan"))),
        "stereo_centres_first_draw": first_c, "double_bonds_first_draw": first_d,
        "relaxed_valid": row["validity"], "COV-R": row["COV-R_mean"], "AMR-R": row["AMR-R_mean"],
        "relaxed_stereo_correct": row.get("stereo_correct", float("nan")),
    }


COLUMNS = [("sampler", "{}"), ("evals", "{}"), ("steps", "{}"), ("raw_valid", "{:.3f}"), ("stereo_centres_first_draw", "{:.3f}"),
           ("double_bonds_first_draw", "{:.3f}"), ("relaxed_valid", "{:.3f}"), ("COV-R", "{:.3f}"), ("AMR-R", "{:.3f}"),
           ("sampling_cpu_s_per_conformer", "{:.3f}")]


def _table(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(c for c, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(f.format(r[c]) if r.get(c) is not None else "–" for c, f in COLUMNS) + " |")
    return "\n".join(lines)


def plot(curves: Sequence[Path], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("COV-R", "COV-R (relaxed)"), ("AMR-R", "AMR-R Å (relaxed)"), ("raw_valid", "valid, raw"), ("stereo_centres_first_draw", "centres right, first draw")]
    fig, axes = plt.subplots(len(curves), len(panels), figsize=(4 * len(panels), 3.2 * len(curves)), squeeze=False)
    for i, path in enumerate(curves):
        data = json.loads(Path(path).read_text())
        for j, (key, label) in enumerate(panels):
            ax = axes[i][j]
            for s in sorted({r["sampler"] for r in data["rows"]}):
                pts = sorted((r["evals"], r[key]) for r in data["rows"] if r["sampler"] == s and r.get(key) is not None)
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=s)
            ax.set_xscale("log")
            ax.set_xlabel("network evaluations / conformer")
            ax.set_title(f"{data['label']}: {label}", fontsize=9)
            if i == 0 and j == 0:
                ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(out, lambda tmp: fig.savefig(tmp, dpi=110))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pipeline.sample.curve", description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", type=Path, help="reference conformers: a dataset dir or a reference-set dir")
    p.add_argument("--split", default=None)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--samples", type=int, default=8, help="conformers per molecule")
    p.add_argument("--samplers", default="ode_heun,dpmpp_2m,dpmpp_2m_sde")
    p.add_argument("--evals", default="5,10,20,40,100")
    p.add_argument("--grid", default="logsnr")
    p.add_argument("--corrector-passes", type=int, default=None, help="low-noise corrector passes (default: SampleConfig's for raw samples), counted in --evals")
    p.add_argument("--delta", type=float, default=0.75)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--atom-budget", type=int, default=1024)
    p.add_argument("--refine-max-iters", type=int, default=None, help="default: SampleConfig's refine_max_iters")
    p.add_argument("--model", default=None, help="model ref (default: the shipped model)")
    p.add_argument("--label", default=None, help="name of this curve in the plot (default: the reference's name)")
    p.add_argument("--plot", type=Path, nargs="+", default=None, help="curve.json files to plot into --out (a PNG)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if args.plot:
        plot(args.plot, args.out)
        print(f"wrote {args.out}")
        return 0
    if args.reference is None:
        p.error("--reference is required (or --plot)")

    from pipeline.benchmark.runner import _molecules
    from pipeline.sample.config import SampleConfig
    from pipeline.sample.stage import load_model, model_identity
    from pipeline.threads import torch_threads
    from pipeline.validate.reference import load_reference

    args.refine_max_iters = args.refine_max_iters or SampleConfig().refine_max_iters
    if args.corrector_passes is None:
        args.corrector_passes = SampleConfig(refine="none").passes  # the curve scores raw samples
    ref = load_reference(args.reference)
    molecules = _molecules(ref, args.limit, args.split)
    model, spec, _ = load_model(args.model, "cpu")
    label = args.label or (args.reference.name + (f" {args.split}" if args.split else ""))
    print(f"{len(molecules)} molecules of {args.reference} x {args.samples} samples; model {model_identity(args.model, model)}; "
          f"load avg {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores", flush=True)
    rows = []
    with torch_threads(1):
        from pipeline.sample.generate import generate_detailed

        # warm-up outside the timings (first-call overheads: lazy imports, kernel selection)
        generate_detailed([molecules[0].mol], model, spec, 1, steps=2, refine="none", progress=False)
        for sampler in args.samplers.split(","):
            for evals in (int(e) for e in args.evals.split(",")):
                rows.append(_point(args, molecules, ref.path, model, spec, sampler, evals))
                print(_table(rows[-1:]).splitlines()[-1], flush=True)
                args.out.mkdir(parents=True, exist_ok=True)
                doc = {"label": label, "model": model_identity(args.model, model), "samples": args.samples,
                       "molecules": len(molecules), "delta": args.delta, "rows": rows}
                write_file_atomic(args.out / "curve.json", json.dumps(doc, indent=1) + "\n")
    print()
    print(_table(rows))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
