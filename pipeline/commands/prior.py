"""``bondiff prior``: build and calibrate the bond-shaped prior Σ = RRᵀ for a dataset (see docs/prior.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands._common import UserError, add_config_args, add_config_flag, add_subcommand, add_tracking_args, run_stage_command, stage_config
from pipeline.io_paths import check_output_dir

EXAMPLES = """\
  bondiff prior --dataset work/qm9                          # calibrate c, κ; λ on fragments (lone ion 5 Å); write work/priors/qm9-<key>/prior.json
  bondiff prior --dataset work/qm9 --set calibration.fragment_rms=8          # counter-ions 8 Å (rms) from the rest
  bondiff prior --dataset work/qm9 --set lam_mode=identity                   # the older prior: λ I on every mode
  bondiff prior --dataset work/qm9 --out work/qm9_prior     # choose the output directory
  bondiff prior --dataset work/qm9 --set weighted=true      # bond-order-weighted Laplacian
  bondiff prior --dataset work/qm9 --set calibration.fit_kappa=false --set kappa=10   # fix κ, fit c (and λ)
  bondiff prior --dataset work/qm9 --set calibration.enabled=false --set c=0.1 --set kappa=20 --set lam=0.05
  bondiff prior -c configs/prior.yaml --dataset work/qm9 --force --no-track

Re-running with the same dataset (content hash) and config reuses the prior; --force rebuilds.
prior.json holds PriorParams (c, kappa, lam, weighted, lam_mode) + calibration statistics; the PNG plots compare
bonded distances and radii of gyration of prior samples with the data.
"""

MAX_SHOWN_ERRORS = 10


def register(sub: argparse._SubParsersAction, name: str, help_text: str) -> None:
    from pipeline.prior.config import PriorConfig

    p = add_subcommand(sub, name, help_text, _run, description=__doc__.splitlines()[0].split(": ", 1)[1], examples=EXAMPLES)
    p.add_argument("--dataset", "-d", required=True, type=Path, help="conformer dataset directory (from bondiff ingest)")
    add_config_flag(p, PriorConfig, "out_dir", "--out", "-o")
    p.add_argument("--force", action="store_true", help="rebuild even if a prior with the same dataset and config exists")
    add_config_args(p)
    add_tracking_args(p)


def _print_report(result, run_id: str | None) -> None:
    doc = result.extra["prior"]
    cal, par = doc["calibration"], doc["params"]
    state = "reused" if result.reused else "built"
    print(
        f"prior {state}: c={par['c']:.4g} Å⁻², kappa={par.get('kappa', 0.0):.4g}, lam={par['lam']:.4g} "
        f"(lam_mode {par.get('lam_mode', 'identity')}), "
        f"weighted={par['weighted']}  -> {result.outputs['prior']}"
    )
    if cal.get("n_molecules"):
        print(
            f"  calibration on {cal['n_molecules']} molecules ({cal.get('split', '?')} split): "
            f"bond rms data {cal['data_bond_rms']:.3f} / prior {cal['prior_bond_rms']:.3f} Å, "
            f"Rg rms data {cal['data_rg_rms']:.3f} / prior {cal['prior_rg_rms']:.3f} Å (sigma_data {cal['sigma_data']:.3f})"
        )
    if "lone_ion_rms" in cal:
        frag = f"; {cal['fragment_pairs']} fragment pairs: centroid distance rms data {cal['data_fragment_rms']:.2f} / prior {cal['prior_fragment_rms']:.2f} Å" if "data_fragment_rms" in cal else ""
        print(f"  fragments: a lone ion sits {cal['lone_ion_rms']:.2f} Å (rms) from a large rest{frag}")
    if "fragment_rms_target" in cal:
        from pipeline.prior.calibrate import fragment_summary

        print(f"  {fragment_summary(cal, par['lam'])}")
    if cal.get("kappa_at_bound"):
        print("  note: κ is at the end of its grid (no bending stiffness in range matches the data's Rg; see docs/prior.md)")
    if cal.get("lam_at_bound"):
        print("  note: λ is at the end of its grid (the data are more extended than the prior can be; see docs/prior.md)")
    counts = doc["counts"]
    print(f"  molecules: {counts['molecules']} ({counts['multi_fragment']} multi-fragment), errors: {counts['errors']}")
    for e in doc.get("errors", [])[:MAX_SHOWN_ERRORS]:
        print(f"    {e['file']} [record {e['record']}]: {e['reason']}")
    if len(doc.get("errors", [])) > MAX_SHOWN_ERRORS:
        print(f"    ... {len(doc['errors']) - MAX_SHOWN_ERRORS} more in {result.outputs['prior']}/prior.json")
    if run_id:
        print(f"  MLflow run: {run_id}")


def _run(args: argparse.Namespace) -> int:
    from pipeline.prior import PriorConfig, run_prior

    cfg = stage_config(PriorConfig, args)
    if not (args.dataset / "manifest.json").is_file():
        raise UserError(f"{args.dataset} is not a bondiff dataset (no manifest.json; run `bondiff ingest` first)")
    if cfg.out_dir is not None:  # before any work: one rule for output folders
        check_output_dir(cfg.out_dir, "prior.json", inputs=[args.dataset], what="prior folder")

    result, run_id = run_stage_command(args, "prior", cfg, lambda: run_prior(cfg, args.dataset, force=args.force))
    _print_report(result, run_id)
    return 0
