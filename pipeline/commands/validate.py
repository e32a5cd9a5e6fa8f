"""``bondiff validate``: check generated conformers with RDKit; coverage against references (see docs/validate.md)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from pipeline.commands._common import UserError, add_config_args, add_config_flag, add_subcommand, add_tracking_args, run_stage_command, stage_config
from pipeline.io_paths import check_output_dir, file_problem

EXAMPLES = """\
  bondiff validate --generated out.sdf --out work/validate                        # checks only
  bondiff validate --generated out.sdf --reference data/hutchison_dev --out work/val
  bondiff validate --generated out.sdf --reference work/qm9 --out work/val --set metrics.delta=0.5
  bondiff validate --generated out.sdf --out work/val --set checks.energy=false --workers 2

Per-conformer results: DIR/conformers.csv (one row per SDF record, a column per check, `valid`);
per-molecule: DIR/molecules.csv; numbers: DIR/summary.json; everything: DIR/report.html.
"""

MAX_SHOWN_ERRORS = 10


def register(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    from pipeline.validate.config import ValidateConfig

    p = add_subcommand(sub, name, help_text, _run, description=__doc__.splitlines()[0].split(": ", 1)[1], examples=EXAMPLES)
    p.add_argument("--generated", "-g", required=True, type=Path, metavar="FILE.sdf", help="generated conformers (one record per conformer)")
    p.add_argument("--reference", "-r", type=Path, default=None, metavar="DIR", help="reference conformers: a bondiff dataset or a reference-set dir (molecules.smi + xyz/)")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="DIR", help="report directory to write")
    add_config_flag(p, ValidateConfig, "metrics.delta", "--delta", metavar="Å")
    add_config_flag(p, ValidateConfig, "workers", "--workers", metavar="N")
    add_config_args(p, default=None)
    add_tracking_args(p)


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %" if math.isfinite(v) else "n/a"


def _ang(v: float) -> str:
    """An AMR in Å; NaN (no valid conformer to match) reads as n/a, not 'nan Å'."""
    return f"{v:.3f} Å" if math.isfinite(v) else "n/a (no valid conformer)"


def print_summary(summary: dict, out_dir: Path, run_id: str | None = None) -> None:
    """A few lines for the terminal; the full picture is in the report."""
    m = summary["metrics"]
    print(f"validated {int(m['n_records'])} records: {100 * m['validity']:.1f} % valid ({int(m['n_valid'])}), {int(m['n_errors'])} errors")
    checks = summary.get("checks", {})
    if checks:
        print("  pass rate by check: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in checks.items()))
    if "stereo_correct" in m:
        print(f"  stereo correct: {100 * m['stereo_correct']:.1f} % of conformers with stereo elements")
    if "COV-R_mean" in m:
        d = summary["deltas"][0]
        print(
            f"  δ={d:g} Å over {int(m.get('n_molecules_scored', 0))} molecules: COV-R {_pct(m['COV-R_mean'])} (median {_pct(m['COV-R_median'])}), "
            f"AMR-R {_ang(m['AMR-R_mean'])}, COV-P {_pct(m['COV-P_mean'])}, AMR-P {_ang(m['AMR-P_mean'])}"
        )
    if summary.get("verdict"):
        print(f"  verdict: {summary['verdict']['text']}")
    errors = summary.get("errors", [])
    for e in errors[:MAX_SHOWN_ERRORS]:
        print(f"  error: {e}")
    if len(errors) > MAX_SHOWN_ERRORS:
        print(f"  ... {len(errors) - MAX_SHOWN_ERRORS} more in {out_dir / 'summary.json'}")
    print(f"  report: {out_dir / 'report.html'}")
    if run_id:
        print(f"  MLflow run: {run_id}")


def _run(args: argparse.Namespace) -> int:
    from pipeline.validate import ValidateConfig, run_validate

    if not args.generated.exists():
        raise UserError(f"generated SDF not found: {args.generated}")
    why = file_problem(args.generated)
    if why:
        raise UserError(f"generated SDF {args.generated}: {why}")
    if args.reference is not None and not args.reference.exists():
        raise UserError(f"reference not found: {args.reference}")
    cfg = stage_config(ValidateConfig, args)
    # before any work: one rule for output folders (a new/empty folder or an older report)
    check_output_dir(args.out, "summary.json", inputs=[args.generated, args.reference], what="report folder")

    result, run_id = run_stage_command(args, "validate", cfg, lambda: run_validate(cfg, args.generated, args.reference, args.out))
    print_summary(result.extra["summary"], args.out, run_id)
    return 0
