"""A conformer ensemble for one molecule: ETKDGv3 -> MMFF94(s) -> stereo check -> energy window ->
greedy heavy-atom RMSD pruning (symmetry-aware, no reflection), lowest energy first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.builder.config import ConformerConfig

__all__ = ["KCAL_PER_HARTREE", "Ensemble", "ConformerError", "generate_ensemble", "stereo_matches", "prune", "embed_count"]

KCAL_PER_HARTREE = 627.5094740631


class ConformerError(ValueError):
    """No usable conformer for a molecule; the message is the per-record reason."""


@dataclass
class Ensemble:
    """Kept conformers (ids into ``mol``), lowest energy first, energies in kcal/mol."""

    mol: object  # RDKit Mol with explicit H holding exactly the kept conformers, in order
    energies_kcal: np.ndarray
    stats: dict = field(default_factory=dict)


def stereo_matches(mol, conf_id: int, target: str) -> bool:
    """True when the stereo perceived from conformer ``conf_id`` gives the canonical SMILES ``target``."""
    from rdkit import Chem

    m = Chem.Mol(mol, confId=conf_id)
    Chem.AssignStereochemistryFrom3D(m, confId=conf_id, replaceExistingTags=True)
    return Chem.MolToSmiles(Chem.RemoveHs(m), isomericSmiles=True) == target


def prune(heavy, order: list[int], threshold: float, max_keep: int) -> list[int]:
    """Greedy: walk ``order`` (lowest energy first), keep a conformer when its best heavy-atom RMSD
    to every kept one is >= ``threshold``. ``heavy`` is an H-free copy (its coordinates get aligned)."""
    from rdkit.Chem import rdMolAlign

    kept: list[int] = []
    for cid in order:
        if len(kept) >= max_keep:
            break
        if all(rdMolAlign.GetBestRMS(heavy, heavy, cid, ref) >= threshold for ref in kept):
            kept.append(cid)
    return kept


def embed_count(mol, cfg: ConformerConfig) -> int:
    """How many ETKDG embeddings ``mol`` gets (see :class:`ConformerConfig`)."""
    if cfg.embed_per_rotor == 0:
        return cfg.num_embed
    from rdkit import Chem
    from rdkit.Chem import rdMolDescriptors

    rotors = rdMolDescriptors.CalcNumRotatableBonds(Chem.RemoveHs(mol))
    return int(min(cfg.num_embed, cfg.min_embed + cfg.embed_per_rotor * rotors))


def generate_ensemble(mol_h, target_smiles: str, cfg: ConformerConfig, seed: int) -> Ensemble:
    """Embed, relax, filter and prune conformers of ``mol_h`` (explicit H, stereo assigned)."""
    from rdkit import Chem
    from rdkit.Chem import AllChem, rdDistGeom

    params = rdDistGeom.ETKDGv3()
    params.randomSeed = int(seed)
    params.numThreads = 1  # the probe is one embedding
    params.enforceChirality = True
    params.timeout = int(cfg.embed_timeout_s)
    if rdDistGeom.EmbedMolecule(Chem.Mol(mol_h), params) < 0:
        raise ConformerError(f"stereoisomer cannot be embedded (probe embedding failed within {cfg.embed_timeout_s} s)")
    n_embed = embed_count(mol_h, cfg)
    params.pruneRmsThresh = float(cfg.embed_prune_rms)
    params.numThreads = int(cfg.threads)
    params.timeout = int(cfg.embed_timeout_s * n_embed)  # RDKit's timeout bounds the whole call
    cids = [c for c in rdDistGeom.EmbedMultipleConfs(mol_h, n_embed, params) if c >= 0]  # [-1]: timed out
    stats: dict = {"embed_attempts": n_embed, "embedded": len(cids)}
    if not cids:
        raise ConformerError(f"ETKDG embedding failed or took over {params.timeout} s")
    if AllChem.MMFFGetMoleculeProperties(mol_h, mmffVariant=cfg.mmff_variant) is None:
        raise ConformerError(f"no {cfg.mmff_variant} parameters")
    results = AllChem.MMFFOptimizeMoleculeConfs(
        mol_h, numThreads=int(cfg.threads), maxIters=cfg.mmff_max_iters, mmffVariant=cfg.mmff_variant
    )
    energies = {cid: e for cid, (not_conv, e) in zip(cids, results) if not_conv == 0}
    stats["mmff_unconverged"] = len(cids) - len(energies)
    if cfg.check_stereo:
        bad = [cid for cid in energies if not stereo_matches(mol_h, cid, target_smiles)]
        for cid in bad:
            del energies[cid]
        stats["stereo_changed"] = len(bad)
    if not energies:
        raise ConformerError(f"no conformer left after MMFF ({stats})")
    e_min = min(energies.values())
    order = sorted((cid for cid, e in energies.items() if e - e_min <= cfg.energy_window_kcal), key=lambda c: (energies[c], c))
    stats["in_window"] = len(order)
    heavy = Chem.RemoveHs(mol_h)
    kept = prune(heavy, order, cfg.rmsd_threshold, cfg.max_conformers)
    stats["kept"] = len(kept)
    out = Chem.Mol(mol_h)
    out.RemoveAllConformers()
    for cid in kept:
        conf = Chem.Conformer(mol_h.GetConformer(cid))
        out.AddConformer(conf, assignId=True)
    return Ensemble(out, np.array([energies[c] for c in kept], dtype=np.float64), stats)
