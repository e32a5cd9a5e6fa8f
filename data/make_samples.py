"""Rebuild the small shipped samples in data/ (run from the repository root).

    .venv/bin/python data/make_samples.py

* ``data/qm9_sample/``: 300 QM9 molecules (every 436th of qm9pack's 130,831) written in the
  original QM9 xyz format (properties on line 2, Mulliken charges as a 5th column, Mathematica
  ``*^`` exponents for tiny numbers, then frequencies, SMILES and InChI lines);
* ``data/sdf/``: conformer ensembles (RDKit ETKDGv3 + MMFF94, seed 7) for a few drug-like
  molecules, one SDF per molecule, including a salt (two fragments) and a charged molecule.
  A salt's counter-ion is placed as a contact ion pair (see ``_place_counter_ions``) and MMFF94
  then optimises the whole salt, interactions between the fragments included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
QM9_STRIDE = 436
QM9_COUNT = 300

SDF_MOLECULES = {
    "paracetamol": "CC(=O)Nc1ccc(O)cc1",
    "ibuprofen_S": "CC(C)Cc1ccc([C@H](C)C(=O)O)cc1",
    "diphenhydramine_HCl": "C[NH+](C)CCOC(c1ccccc1)c1ccccc1.[Cl-]",  # salt: 2 fragments
    "choline": "C[N+](C)(C)CCO",  # charged (+1)
    "tamoxifen_Z": "CC/C(=C(\\c1ccccc1)c1ccc(OCCN(C)C)cc1)c1ccccc1",  # E/Z double bond
    "ephedrine_1R2S": "CN[C@@H](C)[C@H](O)c1ccccc1",  # two stereocentres
}
SDF_CONFORMERS = 5
# Donor-acceptor distance of an N+-H...Cl- hydrogen bond in ammonium chloride salts (about 3.0-3.2 A);
# a counter-ion starts this far from the charged atom it pairs with, before MMFF94.
ION_PAIR_DISTANCE = 3.05


def _num(x: float) -> str:
    """QM9 writes tiny numbers Mathematica-style (``1.2345*^-6``)."""
    if x != 0.0 and abs(x) < 1e-4:
        mant, exp = f"{x:.6e}".split("e")
        return f"{mant}*^{int(exp)}"
    return repr(float(x))


def write_qm9_sample() -> None:
    import pandas as pd

    from pipeline.ingest.qm9pack import csv_files

    out = ROOT / "qm9_sample"
    out.mkdir(exist_ok=True)
    cols = ["XYZ_file", "Index", "SMILES", "InChi", "Elements", "XYZ_Ang", "Mulliken_pop", "Harmonic_Freq_cmi",
            "RotA_GHz", "RotB_GHz", "RotC_GHz", "Dipole_debye", "Polarizability_bohr3", "HOMO_au", "LUMO_au", "HOMO_LUMO_gap_au",
            "R2_bohr2", "ZPVE_au", "InternalEnergy_0K_au", "InternalEnergy_298K_au", "Enthalphy_298K_au",
            "GibbsFreeEnergy_298K_au", "Heatcapacity_Cv_cal_mol_K"]
    df = pd.concat([pd.read_csv(f, usecols=cols) for f in csv_files()], ignore_index=True)
    rows = df.iloc[::QM9_STRIDE].head(QM9_COUNT)
    for row in rows.itertuples(index=False):
        els = ast.literal_eval(row.Elements)
        xyz = np.asarray(ast.literal_eval(row.XYZ_Ang))
        mull = ast.literal_eval(row.Mulliken_pop)
        freqs = ast.literal_eval(row.Harmonic_Freq_cmi)
        props = [row.RotA_GHz, row.RotB_GHz, row.RotC_GHz, row.Dipole_debye, row.Polarizability_bohr3, row.HOMO_au,
                 row.LUMO_au, row.HOMO_LUMO_gap_au, row.R2_bohr2, row.ZPVE_au, row.InternalEnergy_0K_au,
                 row.InternalEnergy_298K_au, row.Enthalphy_298K_au, row.GibbsFreeEnergy_298K_au, row.Heatcapacity_Cv_cal_mol_K]
        lines = [str(len(els)), "gdb " + str(row.Index) + "\t" + "\t".join(_num(float(p)) for p in props)]
        for e, (x, y, z), q in zip(els, xyz, mull):
            lines.append(f"{e}\t{_num(x)}\t{_num(y)}\t{_num(z)}\t{_num(q)}")
        lines.append("\t".join(f"{f:.4f}" for f in freqs))
        lines.append(f"{row.SMILES}\t{row.SMILES}")
        lines.append(f"{row.InChi}\t{row.InChi}")
        (out / row.XYZ_file).write_text("\n".join(lines) + "\n")


def _place_counter_ions(mol, conf_id: int, name: str) -> None:
    """Move each small fragment of a salt next to an oppositely charged atom of the largest fragment.

    ETKDG embeds the fragments of a multi-fragment molecule separately, all about the origin, so a
    counter-ion lands inside the other ion. Each smaller fragment is translated rigidly so that its
    charged atom sits ``ION_PAIR_DISTANCE`` from a distinct charged atom of opposite sign in the
    largest fragment: along that atom's X-H bond when it has a hydrogen (a hydrogen-bonded contact
    ion pair), else straight away from the centroid of the rest of its fragment.
    """
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    frags = sorted(Chem.GetMolFrags(mol), key=len, reverse=True)
    if len(frags) < 2:
        return
    conf = mol.GetConformer(conf_id)
    x = conf.GetPositions()
    sites = [a for a in (mol.GetAtomWithIdx(i) for i in frags[0]) if a.GetFormalCharge() != 0]
    for frag in frags[1:]:
        ion = next((i for i in frag if mol.GetAtomWithIdx(i).GetFormalCharge() != 0), None)
        if ion is None:
            raise ValueError(f"{name}: fragment {sorted(frag)} has no charged atom to pair")
        sign = mol.GetAtomWithIdx(ion).GetFormalCharge()
        site = next((a for a in sites if a.GetFormalCharge() * sign < 0), None)
        if site is None:
            raise ValueError(f"{name}: no free charged atom of opposite sign for fragment {sorted(frag)}")
        sites.remove(site)
        s = site.GetIdx()
        hs = [n.GetIdx() for n in site.GetNeighbors() if n.GetAtomicNum() == 1]
        rest = [i for i in frags[0] if i != s]
        away = x[hs[0]] - x[s] if hs else x[s] - x[rest].mean(axis=0)
        target = x[s] + ION_PAIR_DISTANCE * away / np.linalg.norm(away)
        shift = target - x[ion]
        for i in frag:
            conf.SetAtomPosition(i, Point3D(*(x[i] + shift)))


def write_sdf_sample(out: Path = ROOT / "sdf") -> None:
    from rdkit import Chem
    from rdkit.Chem import AllChem

    out.mkdir(exist_ok=True)
    for name, smi in SDF_MOLECULES.items():
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        params = AllChem.ETKDGv3()
        params.randomSeed = 7
        cids = AllChem.EmbedMultipleConfs(mol, SDF_CONFORMERS, params)
        for cid in cids:
            _place_counter_ions(mol, cid, name)
        # RDKit's default ignores the forces between fragments: a counter-ion would not move
        AllChem.MMFFOptimizeMoleculeConfs(mol, maxIters=2000, ignoreInterfragInteractions=False)
        with Chem.SDWriter(str(out / f"{name}.sdf")) as w:
            for cid in cids:
                mol.SetProp("_Name", name)
                mol.SetProp("source", "RDKit ETKDGv3 + MMFF94")
                w.write(mol, confId=cid)


if __name__ == "__main__":
    write_qm9_sample()
    write_sdf_sample()
