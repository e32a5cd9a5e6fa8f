"""``bondiff benchmark``: score samplers (bondiff, ETKDG, ETKDG+MMFF) against reference ensembles (see docs/benchmark.md)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.atomic import write_file_atomic
from pipeline.commands._common import UserError, add_config_args, add_config_flag, add_subcommand, add_tracking_args, run_stage_command, stage_config
from pipeline.io_paths import check_output_dir

EXAMPLES = """\
  bondiff benchmark --reference data/hutchison_dev --samplers etkdg,etkdg-mmff --limit 20
  bondiff benchmark --reference data/hutchison_dev --samplers bondiff,etkdg,etkdg-mmff --json bench.json
  bondiff benchmark --reference work/qm9 --split test --samplers etkdg,etkdg-mmff --set validate.metrics.delta=0.5

For K reference conformers of a molecule every sampler makes 2K; the validate stage scores them.
Prints one side-by-side table (also DIR/table.md, DIR/benchmark.json; per-sampler reports in DIR/SAMPLER/).
"""


def register(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    from pipeline.benchmark.config import BenchmarkConfig

    p = add_subcommand(sub, name, help_text, _run, description=__doc__.splitlines()[0].split(": ", 1)[1], examples=EXAMPLES)
    p.add_argument("--reference", "-r", required=True, type=Path, metavar="DIR", help="reference conformers: a reference-set dir (molecules.smi + xyz/) or a bondiff dataset")
    add_config_flag(p, BenchmarkConfig, "samplers", "--samplers", "-s", metavar="A,B")
    add_config_flag(p, BenchmarkConfig, "limit", "--limit", metavar="N")
    add_config_flag(p, BenchmarkConfig, "split", "--split", metavar="NAME")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the table as JSON: {sampler: {metric: value}}")
    p.add_argument("--out", "-o", type=Path, default=Path("bondiff-work/benchmark"), metavar="DIR", help="working directory (default: bondiff-work/benchmark)")
    add_config_flag(p, BenchmarkConfig, "validate.workers", "--workers", metavar="N", context="validation")
    add_config_args(p, default=None)
    add_tracking_args(p)


def _run(args: argparse.Namespace) -> int:
    from pipeline.benchmark import BenchmarkConfig, run_benchmark

    if not args.reference.exists():
        raise UserError(f"reference not found: {args.reference}")
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be >= 1")
    cfg = stage_config(BenchmarkConfig, args)
    # before any work: a new/empty folder or an earlier benchmark (benchmark.json or a sampler's folder)
    check_output_dir(args.out, ("benchmark.json", *cfg.samplers), inputs=[args.reference], what="benchmark folder")

    result, run_id = run_stage_command(args, "benchmark", cfg, lambda: run_benchmark(cfg, args.reference, args.out))
    rep = result.extra["report"]
    print(f"benchmark on {rep['n_molecules']} molecules of {args.reference} ({rep['samples_per_reference']}K conformers per molecule, {rep['machine']['affinity']} cores)")
    print(result.extra["text"])
    if args.json is not None:
        report = json.loads(Path(result.outputs["json"]).read_text())
        keyed = {s: {**report["table"].get(s, {}), "status": st} for s, st in report["status"].items()}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomic(args.json, json.dumps(keyed, indent=2) + "\n")
        print(f"table JSON: {args.json}")
    print(f"report: {args.out / 'report.html'} (the table with definitions; per sampler: SAMPLER/validate/report.html)")
    print(f"details: {args.out}/ (table.md, benchmark.json)")
    if run_id:
        print(f"MLflow run: {run_id}")
    return 0 if any(v == "ok" for v in result.extra["status"].values()) else 1
