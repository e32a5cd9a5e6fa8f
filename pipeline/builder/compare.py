"""Old vs new builder recipe on the same molecules, as a printed table (a benchmark, not a test).

    OMP_NUM_THREADS=1 python -m pipeline.builder.compare --old configs/build_drugs_v1.yaml \\
        --new configs/build_drugs.yaml --molecules 30 --baseline

For the first N selected molecules (the selection of ``--new``), both recipes build the ensemble
(the same stereoisomer fall-back as ``bondiff build-data``) and the table shows, per recipe: CPU
seconds, ETKDG attempts, conformers kept, the energy of the lowest conformer (MMFF, kcal/mol),
and how well each ensemble covers the other: the fraction of old conformers within δ Å
(heavy atoms, symmetry-aware best RMSD, no reflection) of some new one ("old by new") and vice
versa, at δ = 0.5 and 0.75 Å. Both recipes draw from the same per-molecule seeds, so new-vs-old coverage is
flattered when the new one embeds a prefix of the old one's conformers: ``--baseline`` adds a
reference ensemble, the old recipe with other seeds ("ref"), and how well old and new each cover
it (ref_by_old vs ref_by_new) is the fair comparison; old_by_ref shows the run-to-run noise.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from pipeline.builder.config import BuildConfig
from pipeline.builder.molecule import BuiltMolecule, build_molecule
from pipeline.builder.selection import Candidate

__all__ = ["coverage", "main"]

DELTAS = (0.5, 0.75)
SEED_SHIFT = 1_000_003  # --baseline: the old recipe with per-molecule seeds shifted by this


def coverage(ref: BuiltMolecule, probe: BuiltMolecule) -> np.ndarray:
    """[K_ref] best heavy-atom RMSD of each ``ref`` conformer to its nearest ``probe`` conformer (Å).

    Both must be the same stereoisomer built from the same SMILES (same atom order)."""
    from rdkit import Chem
    from rdkit.Chem import rdMolAlign

    from pipeline.chem import mol_from_mapped_smiles, set_conformers

    mol = mol_from_mapped_smiles(ref.mapped_smiles)
    k_ref = ref.coords.shape[0]
    set_conformers(mol, np.concatenate([ref.coords, probe.coords]).astype(np.float64))
    heavy = Chem.RemoveHs(mol)
    best = np.full(k_ref, np.inf)
    for i in range(k_ref):
        for j in range(probe.coords.shape[0]):
            best[i] = min(best[i], rdMolAlign.GetBestRMS(heavy, heavy, k_ref + j, i))
    return best


@dataclass
class _Row:
    record: int
    atoms: int
    cpu: dict[str, float]
    attempts: dict[str, int]
    kept: dict[str, int]
    e_min: dict[str, float]
    cov: dict[str, np.ndarray]  # "old_by_new" etc. -> fraction per delta


def _build(cand: Candidate, cfg: BuildConfig, seed_shift: int = 0) -> BuiltMolecule:
    c = Candidate(cand.record, cand.source_smiles, cand.isomers, cand.seed + seed_shift)
    return build_molecule(c, cfg.conformers, cfg.xtb.model_copy(update={"enabled": False}))


def _fractions(best: np.ndarray) -> np.ndarray:
    return np.array([float(np.mean(best <= d)) for d in DELTAS])


def _compare(cand: Candidate, recipes: dict[str, tuple[BuildConfig, int]]) -> _Row | str:
    from pipeline.builder.conformers import KCAL_PER_HARTREE

    built = {name: _build(cand, cfg, shift) for name, (cfg, shift) in recipes.items()}
    bad = [f"{n}: {b.error}" for n, b in built.items() if b.error]
    if bad:
        return "; ".join(bad)
    if len({b.smiles for b in built.values()}) > 1:
        return "recipes built different stereoisomers"
    cov = {}
    pairs = [("old", "new")] + ([("ref", "old"), ("ref", "new")] if "ref" in built else [])
    for a, b in pairs:
        cov[f"{a}_by_{b}"] = _fractions(coverage(built[a], built[b]))
        cov[f"{b}_by_{a}"] = _fractions(coverage(built[b], built[a]))
    old = built["old"]
    return _Row(
        record=cand.record,
        atoms=int(old.atomic_numbers.shape[0]),
        cpu={n: float(b.stats["cpu_seconds"]) for n, b in built.items()},
        attempts={n: int(b.stats.get("embed_attempts", recipes[n][0].conformers.num_embed)) for n, b in built.items()},
        kept={n: int(b.coords.shape[0]) for n, b in built.items()},
        e_min={n: float(b.energies.min() * KCAL_PER_HARTREE) for n, b in built.items()},
        cov=cov,
    )


def _print(rows: list[_Row], names: list[str]) -> None:
    keys = list(rows[0].cov) if rows else []
    head = f"{'record':>8} {'atoms':>5} " + " ".join(f"{'cpu_s ' + n:>10} {'att':>3} {'kept':>4}" for n in names)
    head += f" {'dEmin new':>9} " + " ".join(f"{k:>14}" for k in keys)
    print(head + f"\n{'':>{len(head) - 15 * len(keys)}}" + " ".join(f"{'.5/.75 Å':>14}" for _ in keys))
    for r in rows:
        line = f"{r.record:>8} {r.atoms:>5} " + " ".join(f"{r.cpu[n]:>10.2f} {r.attempts[n]:>3} {r.kept[n]:>4}" for n in names)
        line += f" {r.e_min['new'] - r.e_min['old']:>9.2f} " + " ".join(f"{r.cov[k][0]:>9.2f}/{r.cov[k][1]:.2f}" for k in keys)
        print(line)
    print(f"\nover {len(rows)} molecules (means; coverage A_by_B = mean over molecules of the fraction of A's conformers within δ of one of B's):")
    for n in names:
        cpu = np.array([r.cpu[n] for r in rows])
        kept = np.array([r.kept[n] for r in rows])
        att = np.array([r.attempts[n] for r in rows])
        de = np.array([r.e_min[n] - r.e_min["old"] for r in rows])
        line = f"  {n:>4}: {cpu.mean():.3f} CPU-s/molecule ({cpu.sum():.1f} in all), {att.mean():.1f} ETKDG attempts, {kept.mean():.2f} conformers kept"
        if n != "old":
            line += (f"; lowest energy minus old's: mean {de.mean():+.2f}, median {np.median(de):+.2f}, "
                     f"worst {de.max():+.2f}, best {de.min():+.2f} kcal/mol")
        print(line)
    for k in keys:
        f = np.mean([r.cov[k] for r in rows], axis=0)
        print(f"  {k:>10}: {f[0]:.3f} (0.5 Å)  {f[1]:.3f} (0.75 Å)")
    if "ref" in names:
        print("  (ref = the old recipe with other seeds: ref_by_old vs ref_by_new says whether new covers an independent ensemble as well as old does)")


def _load(path: str, overrides: list[str]) -> BuildConfig:
    from pipeline.config import load_config

    return load_config(BuildConfig, path, overrides)


def main(argv: list[str] | None = None) -> int:
    from pipeline.builder.exclusion import load_exclusion
    from pipeline.builder.selection import select_candidates
    from pipeline.builder.smiles_source import read_source

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", default="configs/build_drugs_v1.yaml", help="the reference recipe")
    ap.add_argument("--new", default="configs/build_drugs.yaml", help="the recipe under test (its selection is used)")
    ap.add_argument("--old-set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--new-set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--molecules", type=int, default=30)
    ap.add_argument("--skip", type=int, default=0, help="start at this position of the selection")
    ap.add_argument("--baseline", action="store_true", help="also the old recipe with other seeds (run-to-run noise)")
    args = ap.parse_args(argv)

    old, new = _load(args.old, args.old_set), _load(args.new, args.new_set)
    smiles, info = read_source(new.source)
    exclusion = load_exclusion(new.exclusion.reference_dirs, new.exclusion.require_one)
    sel = select_candidates(smiles, new.selection, exclusion, info.member, n=args.skip + args.molecules, global_seed=new.seed)
    recipes = {"old": (old, 0), "new": (new, 0)}
    if args.baseline:
        recipes["ref"] = (old, SEED_SHIFT)
    rows, skipped = [], []
    t0 = time.process_time()
    for cand in sel.candidates[args.skip :]:
        r = _compare(cand, recipes)
        if isinstance(r, str):
            skipped.append((cand.record, r))
        else:
            rows.append(r)
    _print(rows, list(recipes))
    for rec, why in skipped:
        print(f"  skipped record {rec}: {why}")
    print(f"(compare took {time.process_time() - t0:.0f} CPU-s in all)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
