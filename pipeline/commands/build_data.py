"""``bondiff build-data``: build the drug-like conformer-ensemble training set (tracked in MLflow)."""

from __future__ import annotations

import argparse
import functools
import json

from pipeline.commands._common import UserError, add_config_args, add_config_flag, add_subcommand, add_tracking_args, run_stage_command, stage_config

EXAMPLES = """\
  pip download molsets==0.3.1 --no-deps -d ~/.cache/bondiff/sources   # once: the MOSES SMILES
  bondiff build-data --config configs/build_drugs.yaml --out work/drugs_small --limit 20
  bondiff build-data -c configs/build_drugs.yaml --out /data/drugs --workers 2 --set selection.n_molecules=5000
  bondiff build-data -c configs/build_drugs.yaml --out work/drugs_xtb --limit 5 --set xtb.enabled=true
  bondiff build-data -c configs/build_drugs.yaml --out work/drugs_4000_8000 --skip 4000 --limit 4000   # a shard
  bondiff build-data --merge work/qm9 work/drugs --out work/train_set   # one training set from several
  bondiff build-data --pack work/qm9_30k work/drugs_0_4000 --out data/train --no-track   # add write-once compressed parts
"""


def register(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    from pipeline.builder.config import BuildConfig

    p = add_subcommand(sub, name, help_text, _handle, examples=EXAMPLES)
    add_config_args(p, default="configs/build_drugs.yaml")
    p.add_argument("--out", "-o", required=True, help="output dataset directory (written atomically)")
    p.add_argument("--limit", type=int, default=None, help="build at most N molecules (caps selection.n_molecules)")
    p.add_argument(
        "--skip",
        type=int,
        default=0,
        metavar="START",
        help="start at this position of the seeded selection (a shard [START, START+LIMIT); the next shard: --skip STOP)",
    )
    add_config_flag(p, BuildConfig, "workers", "--workers")
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="stop taking new molecules after this long and commit what is built (manifest: recipe.effective_limit)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--merge",
        nargs="+",
        metavar="DATASET",
        default=None,
        help="instead of building: merge these datasets into --out (dedup + benchmark exclusion again)",
    )
    p.add_argument(
        "--pack",
        nargs="+",
        metavar="DATASET",
        default=None,
        help="instead of building: add these datasets as compressed, write-once parts of the packed training set --out "
        "(parts already there are kept; dedup + benchmark exclusion against what is in)",
    )
    add_tracking_args(p)


def _handle(args: argparse.Namespace) -> int:
    from pipeline.builder import BuildConfig, run_build
    from pipeline.builder.smiles_source import SourceError

    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be >= 1")
    if args.skip < 0:
        raise UserError("--skip must be >= 0")
    if args.max_minutes is not None and args.max_minutes <= 0:
        raise UserError("--max-minutes must be > 0")
    cfg = stage_config(BuildConfig, args)
    if args.merge and args.pack:
        raise UserError("--merge and --pack exclude each other")
    from pipeline.io_paths import check_output_dir

    # before any work: a new/empty folder or an earlier dataset (packing adds parts to an existing packed set)
    check_output_dir(args.out, "manifest.json", inputs=[*(args.merge or []), *(args.pack or [])], what="dataset folder")
    if args.merge:
        from pipeline.builder.merge import merge_datasets

        stage, stage_cfg, report = "merge-data", cfg.exclusion, _merge_report
        call = functools.partial(merge_datasets, args.merge, args.out, cfg.exclusion)
    elif args.pack:
        from pipeline.builder.pack import pack_datasets

        stage, stage_cfg, report = "pack-data", cfg.exclusion, _pack_report
        call = functools.partial(pack_datasets, args.pack, args.out, cfg.exclusion)
    else:
        stage, stage_cfg, report = "build-data", cfg, _build_report

        def call():
            try:
                budget = None if args.max_minutes is None else 60.0 * args.max_minutes
                return run_build(cfg, args.out, limit=args.limit, progress=not args.no_progress, time_budget_s=budget, skip=args.skip)
            except SourceError as exc:
                raise UserError(str(exc)) from None

    result, run_id = run_stage_command(args, stage, stage_cfg, call)
    if run_id:
        print(f"mlflow run: {run_id}")
    report(result, args)
    return 0


def _build_report(result, args: argparse.Namespace) -> None:
    m = result.metrics
    print(
        f"dataset {result.outputs['dataset']}: {int(m['molecules'])} molecules, {int(m['conformers'])} conformers, "
        f"{int(m['excluded'])} excluded as benchmark molecules, {int(m['errors'])} errors, "
        f"{m['molecules_per_minute']:.1f} molecules/min wall, {m['molecules_per_cpu_minute']:.1f} per CPU-minute"
    )
    rng = result.extra.get("manifest", {}).get("recipe", {}).get("selection_range")
    if rng:
        print(f"selection positions [{rng[0]}, {rng[1]}): the next shard is --skip {rng[1]}")
    for e in result.errors[:10]:
        print(f"  error: {e}")
    if len(result.errors) > 10:
        print(f"  ... {len(result.errors) - 10} more errors in manifest.json")
    if args.verbose:
        print(json.dumps(result.extra.get("manifest", {}).get("counts", {}), indent=2))


def _merge_report(result, args: argparse.Namespace) -> None:
    m = result.metrics
    print(
        f"dataset {result.outputs['dataset']}: {int(m['molecules'])} molecules, {int(m['conformers'])} conformers "
        f"({int(m['duplicates'])} duplicates dropped, {int(m['excluded'])} benchmark molecules excluded)"
    )


def _pack_report(result, args: argparse.Namespace) -> None:
    m = result.metrics
    for name in result.extra["added"]:
        print(f"  added part {name}")
    for why in result.extra["skipped"]:
        print(f"  skipped {why}")
    print(
        f"packed set {result.outputs['dataset']}: {int(m['parts'])} parts ({int(m['parts_added'])} new), "
        f"{int(m['molecules'])} molecules, {int(m['conformers'])} conformers, {m['bytes'] / 2**20:.1f} MiB; new parts: "
        f"{int(m['duplicates'])} duplicates dropped, {int(m['excluded'])} benchmark molecules excluded"
    )
