"""``bondiff sample``: SMILES / SDF / a dataset split in, conformers out (SDF), one MLflow run.

Exit status: 0 when at least one conformer was written (per-record errors are printed, naming the
record), 1 when nothing could be generated, 2 for a usage error (no input, missing file/model).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands._common import (
    UserError,
    add_config_args,
    add_config_flag,
    add_subcommand,
    add_tracking_args,
    check_device,
    print_record_errors,
    run_stage_command,
    stage_config,
    stage_failed,
)
from pipeline.io_paths import check_output_file

__all__ = ["register"]

EXAMPLES = """\
  bondiff sample --smiles "CC(=O)Nc1ccc(O)cc1 paracetamol" -n 10 --out paracetamol.sdf
  bondiff sample --smiles "C[C@H](N)C(=O)O" --smiles "[Na+].[O-]C(=O)c1ccccc1 sodium_benzoate" --sampler dpmpp_2m_sde --steps 40 --out out.sdf
  bondiff sample --input molecules.smi -n 20 --model models:/bondiff-denoiser/3 --out gen.sdf
  bondiff sample --input drugs.sdf -n 10 --refine none --out raw.sdf                # the raw diffusion samples
  bondiff sample --input drugs.sdf -n 10 --prune-rms 0.5 --energy-window 10 --out pruned.sdf
  bondiff sample --input work/hutchison --split test --per-reference 2 --out gen.sdf
"""


def register(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    from pipeline.sample.config import SampleConfig

    p = add_subcommand(sub, name, help_text, _handler, examples=EXAMPLES)
    src = p.add_argument_group("input (at least one)")
    src.add_argument("--smiles", action="append", default=[], metavar='"SMILES [name]"', help="a molecule (repeatable)")
    src.add_argument("--input", "-i", default=None, help=".smi (SMILES name per line), .sdf, or a dataset directory")
    add_config_flag(src, SampleConfig, "split", "--split")
    add_config_flag(p, SampleConfig, "num_confs", "-n", "--num-confs")
    add_config_flag(p, SampleConfig, "per_reference", "--per-reference", metavar="F")
    add_config_flag(p, SampleConfig, "sampler", "--sampler", metavar="SAMPLER")
    add_config_flag(p, SampleConfig, "steps", "--steps")
    add_config_flag(p, SampleConfig, "corrector_passes", "--corrector-passes", metavar="N")
    add_config_flag(p, SampleConfig, "seed", "--seed")
    p.add_argument("--model", default=None, help="model dir, checkpoint or models:/bondiff-denoiser/<v> (default: the shipped model; 'latest' = latest registered)")
    add_config_flag(p, SampleConfig, "device", "--device")
    add_config_flag(p, SampleConfig, "refine", "--refine")
    add_config_flag(p, SampleConfig, "prune_rms", "--prune-rms", metavar="Å")
    add_config_flag(p, SampleConfig, "energy_window", "--energy-window", metavar="KCAL")
    add_config_flag(p, SampleConfig, "threads", "--threads")
    add_config_flag(p, SampleConfig, "atom_budget", "--atom-budget")
    add_config_flag(p, SampleConfig, "progress", "--no-progress", const=False, help="no progress bar")
    p.add_argument("--out", "-o", required=True, help="output SDF")
    add_config_args(p)
    add_tracking_args(p)


def _handler(args: argparse.Namespace) -> int:
    from pipeline.sample.config import SampleConfig
    from pipeline.sample.inputs import InputError, SampleInputs
    from pipeline.sample.stage import run_sample
    from pipeline.types import StageError

    if not args.smiles and not args.input:
        raise UserError("no input: give --smiles \"SMILES [name]\" (repeatable) or --input FILE")
    cfg = stage_config(SampleConfig, args)
    if args.split and not (args.input and Path(args.input).is_dir()):
        raise UserError("--split applies to a dataset directory given with --input")
    inputs = SampleInputs(list(args.smiles), Path(args.input) if args.input else None, args.split)
    # before any work: the output can be written and is not the input; the device exists
    out = check_output_file(args.out, [args.input] if args.input else [], what="output SDF")
    check_output_file(out.with_name(out.stem + ".errors.json"), [args.input] if args.input else [], what="error list")
    check_device(cfg.device)
    try:
        result, run_id = run_stage_command(args, "sample", cfg, lambda logger: run_sample(cfg, args.model, inputs, out, logger), pass_logger=True)
    except InputError as exc:
        raise UserError(str(exc)) from None
    except StageError as exc:
        return stage_failed("sample", exc, prefix="nothing generated: ")
    print_record_errors(result.errors, limit=None)
    m = result.metrics
    print(
        f"wrote {int(m['records_written'])} conformers of {int(m['molecules'])} molecules to {out} "
        f"({m['conformers_per_s']:.2f} conformers/s sampling; {len(result.errors)} error(s))"
        + (f"; MLflow run {run_id}" if run_id else "")
    )
    return 0
