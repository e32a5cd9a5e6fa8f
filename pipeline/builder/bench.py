"""Cost of the builder's steps on this machine, as a printed table (not a test).

    OMP_NUM_THREADS=1 python -m pipeline.builder.bench --config configs/build_drugs.yaml --molecules 6

For the first N selected molecules: ETKDG+MMFF ensemble time per molecule, then GFN2-xTB
(tblite) single-point and L-BFGS relaxation time per conformer on up to ``--xtb-confs`` of its
conformers (skipped, and said so, when ``tblite`` is not installed). The last lines extrapolate
the cost of a full build with and without xTB. Times are CPU seconds of this process.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from rdkit import Chem

    from pipeline.builder.config import BuildConfig, XtbConfig
    from pipeline.builder.conformers import generate_ensemble
    from pipeline.builder.exclusion import load_exclusion
    from pipeline.builder.selection import select_candidates
    from pipeline.builder.smiles_source import read_source
    from pipeline.builder.xtb import refine_conformer, xtb_available
    from pipeline.config import load_config

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/build_drugs.yaml")
    ap.add_argument("--molecules", type=int, default=6)
    ap.add_argument("--xtb-confs", type=int, default=2, help="conformers per molecule relaxed with xTB")
    args = ap.parse_args(argv)

    cfg = load_config(BuildConfig, args.config)
    smiles, info = read_source(cfg.source)
    exclusion = load_exclusion(cfg.exclusion.reference_dirs, cfg.exclusion.require_one)
    sel = select_candidates(smiles, cfg.selection, exclusion, info.member, n=args.molecules, global_seed=cfg.seed)
    xcfg = XtbConfig(enabled=True, method=cfg.xtb.method, max_steps=cfg.xtb.max_steps, gtol=cfg.xtb.gtol)
    xtb_confs = args.xtb_confs if xtb_available() else 0
    if not xtb_available():
        print("tblite is not installed: xTB columns skipped (pip install -c constraints.txt tblite)")
    rows = []
    print(f"{'record':>8} {'atoms':>5} {'confs':>5} {'etkdg+mmff s':>12} {'xtb sp s/conf':>13} {'xtb opt s/conf':>14} {'evals':>5}")
    for cand in sel.candidates:
        iso = cand.isomers[0]
        mol_h = Chem.AddHs(Chem.MolFromSmiles(iso))
        t0 = time.process_time()
        ens = generate_ensemble(mol_h, iso, cfg.conformers, cand.seed)
        t_ff = time.process_time() - t0
        z = np.array([a.GetAtomicNum() for a in mol_h.GetAtoms()])
        sp, opt, evals = [np.nan], [np.nan], [np.nan]
        for conf in list(ens.mol.GetConformers())[:xtb_confs]:
            x = conf.GetPositions()
            t0 = time.process_time()
            refine_conformer(z, x, 0, xcfg.model_copy(update={"max_steps": 0}))
            sp.append(time.process_time() - t0)
            t0 = time.process_time()
            _, _, inf = refine_conformer(z, x, 0, xcfg)
            opt.append(time.process_time() - t0)
            evals.append(inf["evals"])
        k = ens.mol.GetNumConformers()
        rows.append((t_ff, float(np.nanmean(opt)) if xtb_confs else np.nan, k))
        print(f"{cand.record:>8} {mol_h.GetNumAtoms():>5} {k:>5} {t_ff:>12.2f} {np.nanmean(sp) if xtb_confs else np.nan:>13.2f} "
              f"{np.nanmean(opt) if xtb_confs else np.nan:>14.2f} {np.nanmean(evals) if xtb_confs else np.nan:>5.0f}")
    t_ff = np.mean([r[0] for r in rows])
    line = f"\nmean per molecule: ETKDG+MMFF {t_ff:.2f} CPU-s ({np.mean([r[2] for r in rows]):.1f} conformers kept)"
    if xtb_confs:
        t_x = np.mean([r[1] * r[2] for r in rows])
        line += (f"; xTB relaxation of all kept conformers {t_x:.2f} s ({t_x / t_ff:.1f}x); molecules per core-minute: "
                 f"{60 / t_ff:.1f} without xTB, {60 / (t_ff + t_x):.1f} with")
    else:
        line += f"; molecules per core-minute: {60 / t_ff:.1f}"
    print(line)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
