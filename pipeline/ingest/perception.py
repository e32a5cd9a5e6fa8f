"""Bond perception: an input record -> a :class:`~pipeline.ingest.records.Conformer` (or a reason why not).

* xyz without template: RDKit ``rdDetermineBonds.DetermineBonds`` with the record's net charge
  (connect-the-dots; when that fails and ``hueckel_fallback`` is on, the extended-Hückel
  connectivity, which rescues strained cages in QM9), then stereo from 3D;
* xyz with a SMILES template: connectivity from 3D must be isomorphic to the template's graph
  (hydrogens included); bond orders and formal charges come from the template, stereo from 3D,
  and every stereo element the template specifies must agree — else a per-record error;
* SDF/MOL: bonds, charges and coordinates from the file, stereo from the 3D coordinates;
  missing hydrogens are added with coordinates (noted per record).

RDKit is imported inside functions. Every failure raises :class:`RecordProblem` with a reason;
:func:`perceive_item` turns it into a :class:`RecordError` for the stage to collect.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from pipeline.ingest.elements import symbol
from pipeline.ingest.qm9pack import decode_raw
from pipeline.ingest.rdlog import captured_rdkit_log, quiet_stdio as _quiet_stdio, rdkit_reason
from pipeline.ingest.sdf import molblock_problem, query_problem
from pipeline.ingest.records import AtomsRecord, Conformer, Filtered, MolBlockRecord, RecordProblem, Template
from pipeline.sanity import flat_2d, geometry_problem
from pipeline.types import RecordError

__all__ = ["PerceptionOptions", "FilteredRecord", "perceive", "perceive_item", "formula"]


@dataclass(frozen=True)
class PerceptionOptions:
    """The parts of :class:`~pipeline.ingest.config.IngestConfig` a worker needs (small, picklable)."""

    default_charge: int = 0
    hueckel_fallback: bool = True
    add_hydrogens: bool = True
    elements: frozenset[int] = frozenset()
    max_atoms: int = 200
    min_charge: int = -4
    max_charge: int = 4

    @classmethod
    def from_config(cls, cfg) -> "PerceptionOptions":
        from pipeline.ingest.elements import atomic_number

        return cls(
            default_charge=cfg.default_charge,
            hueckel_fallback=cfg.hueckel_fallback,
            add_hydrogens=cfg.add_hydrogens,
            elements=frozenset(int(atomic_number(s)) for s in cfg.elements),  # type: ignore[arg-type]
            max_atoms=cfg.max_atoms,
            min_charge=cfg.min_charge,
            max_charge=cfg.max_charge,
        )


@dataclass(frozen=True)
class FilteredRecord(RecordError):
    """A good record excluded by a config filter (reported apart from errors)."""


def formula(z) -> str:
    """Hill formula of atomic numbers (for messages)."""
    counts: dict[str, int] = {}
    for zi in np.asarray(z).tolist():
        s = symbol(int(zi))
        counts[s] = counts.get(s, 0) + 1
    keys = (["C", "H"] if "C" in counts else []) + sorted(k for k in counts if not ("C" in counts and k in ("C", "H")))
    return "".join(f"{k}{counts[k] if counts[k] > 1 else ''}" for k in keys if k in counts)


# -- building blocks --------------------------------------------------------------------------
_CHARGED = None  # SMARTS [!+0], compiled on first use
_ORDER_TO_TYPE = {1.0: 1, 2.0: 2, 3.0: 3, 1.5: 12}  # bond order as double -> RDKit BondType value


def _atom_arrays(mol, z: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(atomic numbers int16, formal charges int8); per-atom Python calls are slow in RDKit, so
    charges are read only for the atoms a ``[!+0]`` match finds and ``z`` is reused when known."""
    global _CHARGED
    from rdkit import Chem

    n = mol.GetNumAtoms()
    if z is None or len(z) != n:
        z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=np.int16)
    if _CHARGED is None:
        _CHARGED = Chem.MolFromSmarts("[!+0]")
    q = np.zeros(n, dtype=np.int8)
    for (i,) in mol.GetSubstructMatches(_CHARGED, uniquify=False, maxMatches=n):
        q[i] = mol.GetAtomWithIdx(i).GetFormalCharge()
    return np.asarray(z, dtype=np.int16), q


def _bond_array(mol) -> np.ndarray:
    """[B, 3] int32 (i, j, RDKit BondType value), i < j, as :func:`pipeline.chem.bonds_array` gives,
    from the bond-order adjacency matrix (one C++ call); other bond types fall back to a loop."""
    from rdkit import Chem

    from pipeline.chem import bonds_array

    adj = Chem.GetAdjacencyMatrix(mol, useBO=True)
    i, j = np.nonzero(np.triu(adj))
    orders = adj[i, j]
    types = np.array([_ORDER_TO_TYPE.get(float(o), 0) for o in orders], dtype=np.int32)
    if len(i) != mol.GetNumBonds() or (types == 0).any():
        return bonds_array(mol)
    return np.stack([i, j, types], axis=1).astype(np.int32).reshape(-1, 3)


def _atoms_mol(z: np.ndarray, xyz: np.ndarray):
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    rw = Chem.RWMol()
    conf = Chem.Conformer(len(z))
    for zi in z.tolist():
        a = Chem.Atom(int(zi))
        a.SetNoImplicit(True)
        rw.AddAtom(a)
    if hasattr(conf, "SetPositions"):
        conf.SetPositions(np.ascontiguousarray(xyz, dtype=np.float64))
    else:  # pragma: no cover - RDKit < 2024
        for i, (x, y, w) in enumerate(np.asarray(xyz, dtype=np.float64).tolist()):
            conf.SetAtomPosition(i, Point3D(x, y, w))
    conf.Set3D(True)
    rw.AddConformer(conf, assignId=True)
    return rw.GetMol()


def _determine_bonds(z: np.ndarray, xyz: np.ndarray, charge: int, hueckel_fallback: bool):
    """Bond orders + charges from 3D; returns (mol, notes)."""
    from rdkit.Chem import rdDetermineBonds

    from rdkit import rdBase

    mol = _atoms_mol(z, xyz)
    try:
        with rdBase.BlockLogs():  # a failure's log line repeats the exception, which is reported
            rdDetermineBonds.DetermineBonds(mol, charge=charge)
        return mol, ()
    except Exception as exc:  # RDKit raises ValueError/RuntimeError subclasses; the reason is reported below
        first = _perception_reason(exc, charge)
    if hueckel_fallback:
        mol = _atoms_mol(z, xyz)
        try:
            with _quiet_stdio():  # YAeHMOP prints "Distance ... is suspicious" warnings on stdout
                rdDetermineBonds.DetermineBonds(mol, charge=charge, useHueckel=True)
            return mol, ("hueckel_connectivity",)
        except Exception as exc:
            again = _perception_reason(exc, charge)
            first += "; the same with Hückel connectivity" if again == first else f"; with Hückel connectivity: {again}"
    raise RecordProblem(f"bond perception failed with net charge {charge}: {first}")


_CHARGE_MISMATCH = re.compile(r"Final molecular charge \((-?\d+)\) does not match input \((-?\d+)\)")


def _perception_reason(exc: Exception, charge: int) -> str:
    """RDKit's message, first line; its charge-mismatch text names the two numbers the wrong way round
    ("Final molecular charge (0) does not match input (1)" when the input was 0), so say it plainly."""
    text = str(exc).strip()
    if _CHARGE_MISMATCH.search(text):
        return (f"no bond orders on these atoms give net charge {charge} "
                "(give the record's charge: extended-xyz charge=N, charges.txt in a reference set, or --set default_charge=N)")
    return text.splitlines()[0] if text else type(exc).__name__


def _skeleton(mol):
    """Same atoms (element only), every bond single: for graph-isomorphism checks."""
    from rdkit import Chem

    rw = Chem.RWMol()
    for a in mol.GetAtoms():
        b = Chem.Atom(a.GetAtomicNum())
        b.SetNoImplicit(True)
        rw.AddAtom(b)
    for bd in mol.GetBonds():
        rw.AddBond(bd.GetBeginAtomIdx(), bd.GetEndAtomIdx(), Chem.BondType.SINGLE)
    m = rw.GetMol()
    m.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(m)
    return m


def _isomorphism(conn, tmpl, tmpl_skeleton) -> tuple[int, ...] | None:
    """``match[i_template] = i_conn`` when the two graphs are isomorphic, else None."""
    from rdkit import Chem

    if conn.GetNumBonds() != tmpl.GetNumBonds():
        return None
    # DetermineConnectivity leaves single bonds only and no implicit H: conn is its own skeleton
    conn.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(conn)
    match = conn.GetSubstructMatch(tmpl_skeleton, useChirality=False)
    return tuple(match) if match else None


@dataclass(frozen=True)
class _ParsedTemplate:
    mol: object  # template with explicit hydrogens
    skeleton: object  # same graph, single bonds, element-only atoms
    smiles: str  # canonical isomeric SMILES
    charge: int
    elements: tuple[int, ...]  # sorted atomic numbers
    partly_specified: bool  # some potential stereo element is left unspecified


@functools.lru_cache(maxsize=256)
def _parse_template(tpl: Template) -> _ParsedTemplate:
    """Parsed once per template (all conformers of a molecule share it)."""
    from rdkit import Chem

    from pipeline.chem import canonical_smiles

    with captured_rdkit_log() as log:
        t = Chem.MolFromSmiles(tpl.smiles)
    if t is None:
        raise RecordProblem(f"SMILES template {tpl.smiles!r} ({tpl.origin}) cannot be parsed: {rdkit_reason(log, 'invalid SMILES')}")
    t = Chem.AddHs(t)
    partly = any(si.specified != Chem.StereoSpecified.Specified for si in Chem.FindPotentialStereo(t))
    return _ParsedTemplate(
        mol=t,
        skeleton=_skeleton(t),
        smiles=canonical_smiles(t),
        charge=Chem.GetFormalCharge(t),
        elements=tuple(sorted(a.GetAtomicNum() for a in t.GetAtoms())),
        partly_specified=partly,
    )


def _specified_stereo_only(mol, tmpl):
    """Copy of ``mol`` keeping only the stereo elements that ``tmpl`` (same atom order) specifies."""
    from rdkit import Chem

    m = Chem.Mol(mol)
    for a, ta in zip(m.GetAtoms(), tmpl.GetAtoms()):
        if ta.GetChiralTag() == Chem.ChiralType.CHI_UNSPECIFIED:
            a.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    for b in m.GetBonds():
        tb = tmpl.GetBondBetweenAtoms(b.GetBeginAtomIdx(), b.GetEndAtomIdx())
        if b.GetBondType() == Chem.BondType.DOUBLE and tb.GetStereo() == Chem.BondStereo.STEREONONE:
            b.SetStereo(Chem.BondStereo.STEREONONE)
    return m


def _with_template(z: np.ndarray, xyz: np.ndarray, tpl: Template, charge: int | None, hueckel_fallback: bool):
    """Template's bonds/charges on the xyz atoms; stereo from 3D, checked against the template."""
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds

    from pipeline.chem import canonical_smiles

    pt = _parse_template(tpl)
    t, t_charge = pt.mol, pt.charge
    if charge is not None and t_charge != charge:
        raise RecordProblem(f"net charge {charge} given for this record, template {tpl.smiles!r} ({tpl.origin}) has {t_charge}")
    if tuple(sorted(z.tolist())) != pt.elements:
        raise RecordProblem(f"atoms {formula(z)} do not match template {tpl.smiles!r} ({formula(pt.elements)}, {tpl.origin})")
    attempts = [False, True] if hueckel_fallback else [False]
    match = None
    n_bonds = []
    for hueckel in attempts:
        conn = _atoms_mol(z, xyz)
        try:
            with _quiet_stdio(hueckel):
                rdDetermineBonds.DetermineConnectivity(conn, useHueckel=hueckel, charge=t_charge)
        except Exception as exc:
            n_bonds.append(f"failed ({exc})")
            continue
        n_bonds.append(str(conn.GetNumBonds()))
        match = _isomorphism(conn, t, pt.skeleton)
        if match is not None:
            break
    if match is None:
        raise RecordProblem(
            f"connectivity from 3D ({'/'.join(n_bonds)} bonds) does not match template {tpl.smiles!r} "
            f"({t.GetNumBonds()} bonds, {tpl.origin})"
        )
    order = [0] * len(match)
    for i_t, i_x in enumerate(match):
        order[i_x] = i_t
    tmpl = Chem.RenumberAtoms(t, order)  # template in the xyz file's atom order
    mol = Chem.Mol(tmpl)
    mol.RemoveAllConformers()
    mol.AddConformer(Chem.Conformer(conn.GetConformer()), assignId=True)
    Chem.AssignStereochemistryFrom3D(mol)
    got = canonical_smiles(_specified_stereo_only(mol, tmpl) if pt.partly_specified else mol)
    if got != pt.smiles:
        raise RecordProblem(f"stereo from 3D gives {got!r}, template {tpl.smiles!r} ({tpl.origin}) says {pt.smiles!r}")
    return mol


def _from_molblock(rec: MolBlockRecord, add_hydrogens: bool):
    from rdkit import Chem

    why = molblock_problem(rec.block)
    if why:
        raise RecordProblem(f"broken MOL block: {why}")
    with captured_rdkit_log() as log:
        mol = Chem.MolFromMolBlock(rec.block, sanitize=False, removeHs=False, strictParsing=True)
    if mol is None:
        raise RecordProblem(f"broken MOL block: {rdkit_reason(log)}")
    if mol.GetNumAtoms() == 0:
        raise RecordProblem("MOL block has no atoms")
    why = query_problem(mol)
    if why:
        raise RecordProblem(why)
    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:
        raise RecordProblem(f"invalid molecule: {str(exc).strip().splitlines()[0]}") from None
    conf = mol.GetConformer()
    pos = conf.GetPositions()
    if flat_2d(pos, conf.Is3D()):
        raise RecordProblem("record has 2D coordinates (3D conformers needed)")
    why = geometry_problem(pos)
    if why:
        raise RecordProblem(why)
    notes: tuple[str, ...] = ()
    if any(a.GetTotalNumHs() for a in mol.GetAtoms()):
        if not add_hydrogens:
            raise RecordProblem("record lacks hydrogens (add_hydrogens is off)")
        mol = Chem.AddHs(mol, addCoords=True)
        notes = ("hydrogens_added",)
    Chem.AssignStereochemistryFrom3D(mol)
    return mol, notes


def _check_filters(z: np.ndarray, opts: PerceptionOptions) -> None:
    if len(z) > opts.max_atoms:
        raise Filtered(f"filtered: {len(z)} atoms > max_atoms {opts.max_atoms}")
    if opts.elements:
        bad = sorted(symbol(zi) for zi in set(z.tolist()) - opts.elements)
        if bad:
            raise Filtered(f"filtered: element(s) {', '.join(bad)} not in the allowed elements")


def _conformer(mol, rec, source: str, notes: tuple[str, ...], opts: PerceptionOptions, z_hint: np.ndarray | None = None) -> Conformer:
    from rdkit import Chem

    from pipeline.chem import canonical_smiles, mapped_smiles

    z, q = _atom_arrays(mol, z_hint)
    _check_filters(z, opts)
    charge = int(q.sum())
    if not opts.min_charge <= charge <= opts.max_charge:
        raise Filtered(f"filtered: net charge {charge} outside [{opts.min_charge}, {opts.max_charge}]")
    return Conformer(
        file=rec.file,
        record=rec.record,
        name=rec.name,
        source=source,
        smiles=canonical_smiles(mol),
        mapped_smiles=mapped_smiles(mol),
        charge=int(charge),
        atomic_numbers=z,
        formal_charges=q,
        bonds=_bond_array(mol),
        coords=np.asarray(mol.GetConformer().GetPositions(), dtype=np.float64),
        energy=float(rec.energy),
        notes=notes,
        extra={k: v for k, v in rec.extra.items() if k != "source"},
    )


# -- entry points -----------------------------------------------------------------------------
def perceive(rec: AtomsRecord | MolBlockRecord, opts: PerceptionOptions) -> Conformer:
    """One record -> one conformer; raises :class:`RecordProblem` (or :class:`Filtered`)."""
    from rdkit import Chem

    source = str(rec.extra.get("source", "sdf" if isinstance(rec, MolBlockRecord) else "xyz"))
    if isinstance(rec, MolBlockRecord):
        mol, notes = _from_molblock(rec, opts.add_hydrogens)
        return _conformer(mol, rec, source, notes, opts)
    if rec.atomic_numbers is None or rec.coords is None:
        if rec.raw is None:
            raise RecordProblem("record has no atoms")
        z, xyz = decode_raw(rec.raw)
    else:
        z, xyz = np.asarray(rec.atomic_numbers), np.asarray(rec.coords, dtype=np.float64)
    _check_filters(z, opts)  # cheap: before bond perception
    why = geometry_problem(xyz)
    if why:
        raise RecordProblem(why)
    if rec.template is not None:
        mol = _with_template(z, xyz, rec.template, rec.charge, opts.hueckel_fallback)
        notes: tuple[str, ...] = ("template",)
    else:
        charge = opts.default_charge if rec.charge is None else rec.charge
        mol, notes = _determine_bonds(z, xyz, charge, opts.hueckel_fallback)
        Chem.AssignStereochemistryFrom3D(mol)
    zs = set(z.tolist())
    if 6 in zs and 1 not in zs:  # legal for CO2 or CF4, but usually an xyz that left out its hydrogens
        notes = notes + ("carbon_without_hydrogens",)
    return _conformer(mol, rec, source, notes, opts, z_hint=z)  # xyz paths keep the file's atom order


def perceive_item(item, opts: PerceptionOptions) -> Conformer | RecordError:
    """Worker entry point: reader errors pass through; problems become RecordErrors (never dropped)."""
    if isinstance(item, RecordError):
        return item
    try:
        with captured_rdkit_log():  # RDKit's own log lines would only repeat the exception's reason
            return perceive(item, opts)
    except Filtered as exc:
        return FilteredRecord(item.file, item.record, str(exc))
    except RecordProblem as exc:
        return RecordError(item.file, item.record, str(exc))
    except Exception as exc:  # an unexpected RDKit failure is still a per-record error, with its type
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return RecordError(item.file, item.record, f"{type(exc).__name__}: {msg}")
