"""The ``bondiff`` command line: a thin shell over the stage functions.

Each sub-command lives in ``pipeline/commands/<name>.py`` and exposes ``register(subparsers, name, help)``;
importing them is cheap (argparse only). ``register`` reads the command's config class (its flags' help,
defaults and types come from the pydantic fields), so :func:`main` registers only the command it runs;
``bondiff --help`` lists the commands without importing any stage.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from typing import Sequence

from pipeline import __version__

# (module, one-line help) in the order shown by `bondiff --help`
COMMANDS: list[tuple[str, str]] = [
    ("ingest", "read xyz/SDF/QM9/reference sets into a conformer dataset"),
    ("prior", "build and calibrate the bond-shaped covariance Σ = RRᵀ for a dataset"),
    ("train", "train the equivariant x̂₀-denoiser"),
    ("sample", "generate conformers for SMILES / SDF / a dataset split"),
    ("validate", "check generated conformers with RDKit; coverage vs references"),
    ("export", "write SDF from a sample or validate run"),
    ("run", "run a chain of stages from one config under one MLflow parent run"),
    ("benchmark", "score samplers (bondiff, ETKDG, ETKDG+MMFF) against reference ensembles"),
    ("build-data", "build a drug-like conformer-ensemble training set (ETKDG+MMFF, optional xTB)"),
    ("models", "list the models you can sample with (shipped + registered); register the shipped one"),
    ("gpu", "a training stretch on a lent GPU: pack its carry bundle, import what came back"),
    ("ui", "open the MLflow UI on the project's tracking store"),
]

EPILOG = """\
stages: ingest -> prior -> train -> sample -> validate -> export  (or all at once: bondiff run CONFIG)

examples:
  bondiff ingest data/qm9_sample --out work/qm9
  bondiff run configs/quickstart.yaml
  bondiff sample --smiles "CC(=O)Nc1ccc(O)cc1" -n 10 --out paracetamol.sdf
  bondiff ui

Every command takes --help. Tracking goes to ./mlflow.db unless MLFLOW_TRACKING_URI is set.
"""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``bondiff`` parser; with ``only``, that command's flags are registered and the other
    commands are listed by name and help alone ("" = none: enough for ``bondiff --help``)."""
    parser = argparse.ArgumentParser(
        prog="bondiff",
        description="bondiff: 3D conformers from a bond-shaped diffusion model.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bondiff {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS:
        module_name = "pipeline.commands." + name.replace("-", "_")
        if only is not None and name != only:
            if importlib.util.find_spec(module_name) is not None:
                sub.add_parser(name, help=help_text)
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(sub, name, help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = {name for name, _ in COMMANDS}
    parser = build_parser(only=argv[0] if argv and argv[0] in names else "")
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from pipeline.commands._common import run_command

    return run_command(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
