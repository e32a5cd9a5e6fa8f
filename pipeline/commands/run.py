"""``bondiff run CONFIG``: the whole chain from one YAML file under one MLflow parent run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.commands._common import UserError, add_subcommand

EXAMPLES = """\
  bondiff run configs/quickstart.yaml                      # everything; a second run reuses every stage
  bondiff run configs/quickstart.yaml --from sample        # re-run sample, validate, export
  bondiff run configs/quickstart.yaml --force              # re-run every stage
  bondiff run configs/quickstart.yaml --set train.max_steps=2000 --set sample.sampler=sde
  bondiff run configs/sample_user_sdf.yaml --set targets.input=my_molecules.sdf
"""

STAGE_NAMES = ("ingest", "prior", "train", "sample", "validate", "export")


def register(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    p = add_subcommand(
        sub,
        name,
        help_text,
        _handler,
        description=help_text
        + ". Stages whose config and inputs are unchanged are reused from <workdir> (content-hash cache).",
        examples=EXAMPLES,
    )
    p.add_argument("config", help="pipeline YAML (see configs/quickstart.yaml)")
    p.add_argument("--force", action="store_true", help="re-run every stage, ignoring the cache")
    p.add_argument("--from", dest="from_stage", choices=STAGE_NAMES, metavar="STAGE", help=f"re-run STAGE and every later one ({', '.join(STAGE_NAMES)})")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.max_steps=500 (repeatable)",
    )


def _handler(args: argparse.Namespace) -> int:
    from pipeline.run.config import load_pipeline_config
    from pipeline.run.chain import PipelineFailed, run_pipeline

    cfg = load_pipeline_config(args.config, args.overrides)
    if args.from_stage and args.from_stage not in cfg.stages:
        raise UserError(f"--from {args.from_stage}: this config runs only {', '.join(cfg.stages)}")
    print(f"bondiff run {args.config}: {' -> '.join(cfg.stages)}  (workdir {_rel(cfg.workdir)})", flush=True)
    try:
        outcome = run_pipeline(cfg, base_dir=Path.cwd(), force=args.force, from_stage=args.from_stage, config_path=args.config)
    except PipelineFailed as exc:
        print(f"bondiff run: stage {exc.stage} FAILED: {exc.reason}", file=sys.stderr)
        if exc.completed:
            print("  kept (finished before the failure):", file=sys.stderr)
            for stage, rec in exc.completed.items():
                for k, v in rec.outputs.items():
                    print(f"    {stage}.{k}: {_rel(v)}", file=sys.stderr)
        print(f"  the parent run {exc.parent_run_id} is marked FAILED with the reason; fix and re-run "
              "(finished stages are reused)", file=sys.stderr)
        return 1
    _print_summary(outcome, cfg)
    return 0


def _rel(p) -> str:
    try:
        return str(Path(p).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def _print_record_errors(outcome, cfg) -> None:
    """Every stage's per-record errors (bad SMILES, unreadable records), not only in a JSON file."""
    import json

    from pipeline.commands._common import print_record_errors
    from pipeline.types import RecordError

    for stage, rec in outcome.records.items():
        path = Path(cfg.workdir) / stage / rec.key / f"{stage}_errors.json"
        if not path.is_file():
            continue
        try:
            errors = [RecordError(**e) for e in json.loads(path.read_text())]
        except (ValueError, TypeError):
            continue
        if errors:
            print(f"{stage}: {len(errors)} record error(s) (all in {_rel(path)}):", file=sys.stderr)
            print_record_errors(errors, more=_rel(path))


def _print_summary(outcome, cfg) -> None:
    from pipeline.commands.ui import ui_hint

    n, reused = len(outcome.records), outcome.reused
    print(f"\ndone in {outcome.seconds:.1f} s: {n} stage(s), {len(reused)} reused" + (f" ({', '.join(reused)})" if reused else ""))
    for stage, rec in outcome.records.items():
        status = "reused" if rec.reused else "ran"
        print(f"  {stage:<9} {status:<7} run {rec.run_id}")
    if outcome.sdf:
        print(f"conformers (SDF): {_rel(outcome.sdf)}")
    if outcome.report:
        print(f"validation report: {_rel(outcome.report)}")
    _print_record_errors(outcome, cfg)
    print(f"MLflow store: {outcome.tracking_uri}  (experiment {cfg.tracking.experiment!r}, parent run {outcome.parent_run_id})")
    print(ui_hint(outcome.tracking_uri, outcome.experiment_id, outcome.parent_run_id))
