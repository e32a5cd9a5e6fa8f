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
    add_subcommand,
    add_tracking_args,
    check_device,
    print_record_errors,
    stage_config,
    stage_failed,
    tracking_kwargs,
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
    p = add_subcommand(sub, name, help_text, _handler, examples=EXAMPLES)
    src = p.add_argument_group("input (at least one)")
    src.add_argument("--smiles", action="append", default=[], metavar='"SMILES [name]"', help="a molecule (repeatable)")
    src.add_argument("--input", "-i", default=None, help=".smi (SMILES name per line), .sdf, or a dataset directory")
    src.add_argument("--split", default=None, help="split of a dataset directory (train/val/test; default: all)")
    p.add_argument("-n", "--num-confs", type=int, default=None, help="conformers per molecule (default: 10)")
    p.add_argument("--per-reference", type=int, default=None, metavar="F", help="F x K conformers for a molecule with K references")
    p.add_argument("--sampler", default=None,
                   help="dpmpp_2m (DPM-Solver++ 2M, default) | dpmpp_2m_sde | ode_heun (= ode) | ode_euler | ddim | ddpm | sde")
    p.add_argument("--steps", type=int, default=None, help="solver steps (default: 19, i.e. 20 network evaluations with dpmpp_2m)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    p.add_argument("--model", default=None, help="model dir, checkpoint or models:/bondiff-denoiser/<v> (default: the shipped model; 'latest' = latest registered)")
    p.add_argument("--device", default=None, help="cpu | cuda | auto (default: cpu)")
    p.add_argument("--refine", choices=["none", "mmff"], default=None,
                   help="mmff (default): relax every sample with MMFF94 (UFF without parameters); none: the raw samples")
    p.add_argument("--prune-rms", type=float, default=None, metavar="Å",
                   help="drop conformers within this heavy-atom RMSD of a kept one (oversampled; default: off)")
    p.add_argument("--energy-window", type=float, default=None, metavar="KCAL",
                   help="drop conformers more than this above the lowest energy (oversampled; needs refine; default: off)")
    p.add_argument("--threads", type=int, default=None, help="torch threads on a CPU (default: 1; 0 = torch default)")
    p.add_argument("--atom-budget", type=int, default=None, help="max atoms per batch (default: 4096)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
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
    cfg = stage_config(
        SampleConfig,
        args,
        {
            "num_confs": args.num_confs,
            "per_reference": args.per_reference,
            "sampler": args.sampler,
            "steps": args.steps,
            "seed": args.seed,
            "device": args.device,
            "atom_budget": args.atom_budget,
            "refine": args.refine,
            "prune_rms": args.prune_rms,
            "energy_window": args.energy_window,
            "threads": args.threads,
            "split": args.split,
            "progress": False if args.no_progress else None,
        },
    )
    if args.split and not (args.input and Path(args.input).is_dir()):
        raise UserError("--split applies to a dataset directory given with --input")
    inputs = SampleInputs(list(args.smiles), Path(args.input) if args.input else None, args.split)
    # before any work: the output can be written and is not the input; the device exists
    out = check_output_file(args.out, [args.input] if args.input else [], what="output SDF")
    check_output_file(out.with_name(out.stem + ".errors.json"), [args.input] if args.input else [], what="error list")
    check_device(cfg.device)
    run_id = None
    try:
        if args.no_track:
            result = run_sample(cfg, args.model, inputs, out)
        else:
            from pipeline.tracking import track_stage

            result, run_id = track_stage(
                "sample",
                cfg,
                lambda logger: run_sample(cfg, args.model, inputs, out, logger),
                pass_logger=True,
                **tracking_kwargs(args),
            )
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
