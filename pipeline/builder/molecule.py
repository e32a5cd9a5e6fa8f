"""Build one molecule's record (runs in worker processes): stereoisomer -> ensemble -> arrays."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from pipeline.builder.config import ConformerConfig, XtbConfig
from pipeline.builder.conformers import KCAL_PER_HARTREE, ConformerError, generate_ensemble, stereo_matches
from pipeline.builder.selection import Candidate
from pipeline.builder.xtb import XtbError, refine_conformer

__all__ = ["BuiltMolecule", "build_molecule", "build_chunk"]


@dataclass
class BuiltMolecule:
    """Outcome for one candidate: arrays when it worked, else ``error`` (the per-record reason)."""

    record: int
    smiles: str = ""  # canonical isomeric SMILES of the stereoisomer built
    mapped_smiles: str = ""
    atomic_numbers: np.ndarray | None = None
    formal_charges: np.ndarray | None = None
    bonds: np.ndarray | None = None
    coords: np.ndarray | None = None  # [K, N, 3] Å
    energies: np.ndarray | None = None  # [K] Hartree
    stats: dict = field(default_factory=dict)
    error: str | None = None


def _xtb_refine(mol_h, coords: np.ndarray, target: str, cfg: XtbConfig, window_kcal: float):
    """Relax every kept conformer with xTB; drop those whose stereo changed; re-apply the window."""
    from rdkit import Chem

    from pipeline.chem import set_conformers

    z = np.array([a.GetAtomicNum() for a in mol_h.GetAtoms()])
    charge = sum(a.GetFormalCharge() for a in mol_h.GetAtoms())
    out_x, out_e, failed = [], [], 0
    for x in coords:
        try:
            xr, e, _ = refine_conformer(z, x, charge, cfg)
        except XtbError:
            failed += 1
            continue
        out_x.append(xr)
        out_e.append(e)
    if not out_x:
        raise ConformerError(f"xTB failed for all {len(coords)} conformers")
    probe = Chem.Mol(mol_h)
    ids = set_conformers(probe, np.stack(out_x))
    keep = [i for i, cid in enumerate(ids) if stereo_matches(probe, cid, target)]
    if not keep:
        raise ConformerError("stereo changed in every xTB-relaxed conformer")
    e = np.asarray(out_e)[keep]
    x = np.stack(out_x)[keep]
    order = [i for i in np.argsort(e, kind="stable") if (e[i] - e.min()) * KCAL_PER_HARTREE <= window_kcal]
    return x[order], e[order], {"xtb_failed": failed, "xtb_stereo_changed": len(out_x) - len(keep)}


def build_molecule(cand: Candidate, conf_cfg: ConformerConfig, xtb_cfg: XtbConfig) -> BuiltMolecule:
    """Try the candidate's stereoisomers in order until one gives an ensemble; never raises."""
    from rdkit import Chem

    from pipeline.chem import bonds_array, conformer_coords, mapped_smiles

    t0, c0 = time.perf_counter(), time.process_time()
    reasons = []
    for k, given in enumerate(cand.isomers):
        iso = given
        try:
            mol = Chem.MolFromSmiles(given)
            if mol is None:
                raise ValueError("cannot parse SMILES")
            iso = Chem.MolToSmiles(mol)  # canonical: the stereo check compares canonical SMILES
            mol_h = Chem.AddHs(mol)
            ens = generate_ensemble(mol_h, iso, conf_cfg, cand.seed + k)
            coords = conformer_coords(ens.mol)
            energies = ens.energies_kcal / KCAL_PER_HARTREE
            stats = dict(ens.stats, isomer_rank=k, energy_method=conf_cfg.mmff_variant)
            if xtb_cfg.enabled:
                coords, energies, xstats = _xtb_refine(ens.mol, coords, iso, xtb_cfg, conf_cfg.energy_window_kcal)
                stats.update(xstats, energy_method=xtb_cfg.method)
        except (ConformerError, ValueError, RuntimeError) as exc:
            reasons.append(f"{iso}: {exc}")
            continue
        stats["seconds"] = round(time.perf_counter() - t0, 3)
        stats["cpu_seconds"] = round(time.process_time() - c0, 3)
        return BuiltMolecule(
            record=cand.record,
            smiles=iso,
            mapped_smiles=mapped_smiles(ens.mol),
            atomic_numbers=np.array([a.GetAtomicNum() for a in ens.mol.GetAtoms()], dtype=np.int16),
            formal_charges=np.array([a.GetFormalCharge() for a in ens.mol.GetAtoms()], dtype=np.int8),
            bonds=bonds_array(ens.mol),
            coords=coords,
            energies=energies,
            stats=stats,
        )
    return BuiltMolecule(record=cand.record, error="; ".join(reasons) or "no stereoisomer", stats={"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0})


def build_chunk(args: tuple[list[Candidate], dict, dict]) -> list[BuiltMolecule]:
    """Worker entry point (picklable): configs travel as plain dicts."""
    cands, conf, xtb = args
    conf_cfg, xtb_cfg = ConformerConfig(**conf), XtbConfig(**xtb)
    return [build_molecule(c, conf_cfg, xtb_cfg) for c in cands]
