"""Molecules to sample: SMILES (``--smiles``), ``.smi`` / ``.sdf`` files, or a dataset split.

Every input record becomes either a :class:`MoleculeInput` (hydrogens explicit, charges and all
fragments kept, stereo fully assigned) or a :class:`~pipeline.types.RecordError` naming the file,
the record and the reason. Nothing is dropped silently. RDKit is imported inside functions.

* ``.smi``: one ``SMILES [name]`` per line; blank lines and ``#`` comments skipped; a first line
  starting with ``smiles`` is a header.
* ``.sdf`` / ``.mol``: consecutive records with the same title and identity are one molecule with
  K reference conformers (``per_reference`` samples ``per_reference x K``); stereo comes from the
  file (3D coordinates / wedges / parity), hydrogens are added when missing.
* a dataset directory (``manifest.json``): the molecules of ``split`` (or all), K = its conformers.

Unspecified stereo (tetrahedral centres, double bonds) is sampled once per molecule with RDKit's
``EnumerateStereoisomers``, seeded by ``(seed, identity)`` so the same molecule gets the same
choice whatever its position in the input; the chosen isomeric SMILES goes in ``stereo_assigned``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from pipeline.types import RecordError

__all__ = [
    "SampleInputs",
    "MoleculeInput",
    "read_inputs",
    "parse_smiles",
    "prepare_molecule",
    "assign_unspecified_stereo",
    "check_supported",
    "spec_elements",
    "InputError",
]

SMILES_SOURCE = "--smiles"


@dataclass
class SampleInputs:
    """What to sample: SMILES strings (``"SMILES"`` or ``"SMILES name"``) and/or one input path."""

    smiles: list[str] = field(default_factory=list)
    input: Path | None = None
    split: str | None = None

    def describe(self) -> str:
        parts = [f"{len(self.smiles)} SMILES"] if self.smiles else []
        if self.input is not None:
            parts.append(str(self.input) + (f" (split {self.split})" if self.split else ""))
        return ", ".join(parts) or "nothing"


@dataclass
class MoleculeInput:
    """One molecule ready for generation."""

    name: str
    mol: Any  # rdkit Mol: explicit H, all stereo specified
    smiles: str  # input isomeric identity (canonical; may leave stereo unspecified)
    source: str  # file path or "--smiles"
    record: str  # 1-based record number (or dataset index) in ``source``
    n_reference: int = 0  # K reference conformers (SDF groups, datasets), 0 when unknown
    stereo_assigned: str | None = None  # isomeric SMILES chosen for unspecified stereo, if any

    def error(self, reason: str) -> RecordError:
        return RecordError(self.source, f"{self.record} ({self.name})", reason)


class InputError(ValueError):
    """The input as a whole is unusable (no input given, unknown file type, misplaced --split)."""


# -- parsing ------------------------------------------------------------------------------------
def _quiet_rdkit():
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")


def _sanitize_reason(mol) -> str | None:
    """Return RDKit's sanitisation message, or None when ``mol`` sanitises."""
    from rdkit import Chem

    try:
        Chem.SanitizeMol(mol)
    except Exception as exc:  # RDKit raises several exception types; the message is the reason
        return str(exc).strip() or type(exc).__name__
    return None


def parse_smiles(smiles: str):
    """SMILES -> sanitised RDKit Mol, or raise ``ValueError`` with RDKit's reason."""
    from rdkit import Chem

    _quiet_rdkit()
    text = smiles.strip()
    if not text:
        raise ValueError("empty SMILES")
    mol = Chem.MolFromSmiles(text, sanitize=False)
    if mol is None:
        raise ValueError(f"cannot parse SMILES {text!r}")
    if mol.GetNumAtoms() == 0:
        raise ValueError(f"SMILES {text!r} has no atoms")
    reason = _sanitize_reason(mol)
    if reason:
        raise ValueError(f"invalid SMILES {text!r}: {reason}")
    return mol


def _split_smiles_line(line: str) -> tuple[str, str | None]:
    parts = line.strip().split(None, 1)
    return parts[0], (parts[1].strip() if len(parts) > 1 and parts[1].strip() else None)


RawRecord = tuple[str, str, str, Any, int]  # (source, record, name, mol, n_reference)


def _from_smiles_list(items: Sequence[str]) -> tuple[list[RawRecord], list[RecordError]]:
    recs: list[RawRecord] = []
    errs: list[RecordError] = []
    for i, item in enumerate(items, 1):
        if not item.strip():
            errs.append(RecordError(SMILES_SOURCE, str(i), "empty SMILES"))
            continue
        smi, name = _split_smiles_line(item)
        try:
            recs.append((SMILES_SOURCE, str(i), name or f"mol{i}", parse_smiles(smi), 0))
        except ValueError as exc:
            errs.append(RecordError(SMILES_SOURCE, f"{i} ({name or smi})", str(exc)))
    return recs, errs


def _read_smi(path: Path) -> tuple[list[RawRecord], list[RecordError]]:
    from pipeline.io_paths import base_stem, encoding_problem, read_text

    recs: list[RawRecord] = []
    errs: list[RecordError] = []
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        smi, name = _split_smiles_line(line)
        if lineno == 1 and smi.lower() in {"smiles", "smi"}:
            continue  # header
        bad = encoding_problem(line, lineno)
        if bad:
            errs.append(RecordError(str(path), str(lineno), bad))
            continue
        try:
            recs.append((str(path), str(lineno), name or f"{base_stem(path)}_{lineno}", parse_smiles(smi), 0))
        except ValueError as exc:
            errs.append(RecordError(str(path), f"{lineno} ({name or smi})", str(exc)))
    return recs, errs


def _parse_molblock(block: str):
    """One SDF record -> sanitised Mol (hydrogens as written), or raise ValueError with the reason."""
    import numpy as np
    from rdkit import Chem

    from pipeline.ingest.rdlog import captured_rdkit_log, rdkit_reason
    from pipeline.ingest.sdf import molblock_problem, query_problem
    from pipeline.io_paths import encoding_problem
    from pipeline.sanity import geometry_problem

    why = encoding_problem(block) or molblock_problem(block)
    if why:
        raise ValueError(why)
    with captured_rdkit_log() as log:
        mol = Chem.MolFromMolBlock(block, sanitize=False, removeHs=False, strictParsing=True)
    if mol is None:
        raise ValueError(f"cannot parse mol block: {rdkit_reason(log)}")
    if mol.GetNumAtoms() == 0:
        raise ValueError("record has no atoms")
    why = query_problem(mol) or _sanitize_reason(mol)
    if why:
        raise ValueError(why)
    if mol.GetNumConformers():
        pos = mol.GetConformer().GetPositions()
        if np.allclose(pos, 0.0):  # a "0D" record: no coordinates, stereo from the parity flags
            mol.RemoveAllConformers()
        else:
            why = geometry_problem(pos)
            if why:
                raise ValueError(why)
    return mol


def _read_sdf(path: Path) -> tuple[list[RawRecord], list[RecordError]]:
    from pipeline.chem import canonical_smiles
    from pipeline.ingest.sdf import split_records
    from pipeline.io_paths import base_stem, read_text

    _quiet_rdkit()
    errs: list[RecordError] = []
    groups: list[list[Any]] = []  # [name, identity, first_record, mol, count]
    for idx, block in enumerate(split_records(read_text(path))):
        rec = str(idx + 1)
        title = block.split("\n", 1)[0].strip()
        try:
            mol = _parse_molblock(block)
        except ValueError as exc:
            errs.append(RecordError(str(path), rec, str(exc)))
            continue
        name = title or f"{base_stem(path)}_{rec}"
        ident = canonical_smiles(mol)
        if groups and groups[-1][0] == name and groups[-1][1] == ident:
            groups[-1][4] += 1
        else:
            groups.append([name, ident, rec, mol, 1])
    recs = [(str(path), g[2], g[0], g[3], g[4]) for g in groups]
    return recs, errs


def _read_dataset(path: Path, split: str | None) -> tuple[list[RawRecord], list[RecordError]]:
    from pipeline.data.dataset import SPLITS, ConformerDataset

    if split not in (None, "all", *SPLITS):
        raise InputError(f"--split {split!r}: a dataset's splits are {', '.join(SPLITS)} (or all)")
    try:
        ds = ConformerDataset(path)
    except (ValueError, OSError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a readable bondiff dataset: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
    recs: list[RawRecord] = []
    errs: list[RecordError] = []
    for i in ds.split_indices(split):
        entry = ds.entries[i]
        try:
            mol = ds.molecule(i).to_rdkit(conformers=False)
        except ValueError as exc:
            errs.append(RecordError(str(path), f"{i} ({entry.name})", str(exc)))
            continue
        recs.append((str(path), str(i), entry.name, mol, int(entry.n_conformers)))
    return recs, errs


def _read_path(path: Path, split: str | None) -> tuple[list[RawRecord], list[RecordError]]:
    from pipeline.io_paths import InputFileError, file_problem, format_suffix

    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    if not path.is_dir() and file_problem(path):
        raise InputError(f"input {path}: {file_problem(path)}")
    if path.is_dir():
        if not (path / "manifest.json").is_file():
            raise FileNotFoundError(f"input directory {path} is not a bondiff dataset (no manifest.json)")
        recs, errs = _read_dataset(path, split)
        what = f"split {split!r}" if split else "dataset"
    else:
        if split:
            raise InputError(f"--split applies to a dataset directory, not to the file {path}")
        suffix = format_suffix(path)
        try:
            if suffix in {".smi", ".smiles", ".txt"}:
                recs, errs = _read_smi(path)
            elif suffix in {".sdf", ".mol", ".sd"}:
                recs, errs = _read_sdf(path)
            else:
                raise InputError(f"unsupported input file type {suffix or '(none)'!r} ({path}); use .smi, .sdf (also .gz/.bz2) or a dataset dir")
        except InputFileError as exc:
            raise InputError(f"input {path}: {exc}") from None
        what = "file"
    if not recs and not errs:
        errs.append(RecordError(str(path), "-", f"empty input: the {what} holds no molecules"))
    return recs, errs


# -- preparation --------------------------------------------------------------------------------
def _stereo_seed(seed: int, identity: str) -> int:
    return int(hashlib.sha256(f"{seed}:{identity}".encode()).hexdigest()[:8], 16)


def assign_unspecified_stereo(mol, seed: int):
    """Return ``(mol, chosen_smiles or None)``: one stereoisomer for unspecified centres/bonds.

    Specified stereo is never touched (``onlyUnassigned``); the choice is reproducible for a given
    ``(seed, molecule)``.
    """
    from rdkit import Chem
    from rdkit.Chem.EnumerateStereoisomers import EnumerateStereoisomers, StereoEnumerationOptions

    from pipeline.chem import canonical_smiles

    before = canonical_smiles(mol)
    opts = StereoEnumerationOptions(
        onlyUnassigned=True, maxIsomers=1, unique=True, tryEmbedding=False, rand=_stereo_seed(seed, before)
    )
    isomers = list(EnumerateStereoisomers(Chem.Mol(mol), options=opts))
    if not isomers:
        return mol, None
    chosen = isomers[0]
    Chem.AssignStereochemistry(chosen, cleanIt=True, force=True)
    after = canonical_smiles(chosen)
    if after == before:
        return mol, None
    return chosen, after


def prepare_molecule(
    source: str, record: str, name: str, mol, n_reference: int = 0, seed: int = 0, enumerate_stereo: bool = True
) -> MoleculeInput:
    """Hydrogens explicit (added when missing, heavy-atom order kept), unspecified stereo assigned."""
    from rdkit import Chem

    from pipeline.chem import canonical_smiles

    identity = canonical_smiles(mol)
    mol = Chem.AddHs(mol, addCoords=mol.GetNumConformers() > 0)
    mol.RemoveAllConformers()
    chosen = None
    if enumerate_stereo:
        mol, chosen = assign_unspecified_stereo(mol, seed)
    return MoleculeInput(name, mol, identity, source, record, n_reference, chosen)


def spec_elements(spec: Any = None) -> frozenset[str]:
    """Element symbols the model has its own class for: the ``elements`` of the spec (or of its feature
    config); a spec that names none has the featurizer's default, :class:`pipeline.model.spec.FeatureConfig`'s."""
    els = None
    for holder in (spec, getattr(spec, "features", None), getattr(spec, "feature_config", None)):
        els = getattr(holder, "elements", None) if holder is not None else None
        if els:
            break
    if not els:
        from pipeline.model.spec import FeatureConfig

        els = FeatureConfig().elements
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    return frozenset(table.GetElementSymbol(e) if isinstance(e, int) else str(e) for e in els)


def check_supported(mi: MoleculeInput, max_atoms: int | None, elements: Iterable[str] | None) -> str | None:
    """Reason why the model cannot sample ``mi`` (too many atoms, unknown element), or None.

    A lone monatomic ion (Li⁺, Na⁺, K⁺, Mg²⁺, Ca²⁺, Zn²⁺, halides, ...: an atom with no bond and,
    hydrogens being explicit, no hydrogen) is accepted whatever the model's element list: the
    prior's fragment term places it and the network needs nothing from its element (the featurizer
    gives it the "other" element class).
    """
    n = mi.mol.GetNumAtoms()
    if max_atoms is not None and n > max_atoms:
        return f"{n} atoms (with hydrogens) exceeds the model's limit of {max_atoms}"
    if elements is not None:
        allowed = set(elements)
        bonded = {a.GetSymbol() for a in mi.mol.GetAtoms() if a.GetDegree() > 0 or a.GetTotalNumHs() > 0 or n == 1}
        bad = sorted(bonded - allowed)
        if bad:
            return (f"unsupported element(s) {', '.join(bad)} (model knows {', '.join(sorted(allowed))}; "
                    "lone monatomic ions of any element are accepted)")
    return None


def read_inputs(
    inputs: SampleInputs,
    seed: int = 0,
    enumerate_stereo: bool = True,
    max_atoms: int | None = None,
    elements: Iterable[str] | None = None,
) -> tuple[list[MoleculeInput], list[RecordError]]:
    """All input records -> (molecules ready to sample, per-record errors), in input order."""
    raw: list[RawRecord] = []
    errors: list[RecordError] = []
    if inputs.smiles:
        r, e = _from_smiles_list(inputs.smiles)
        raw += r
        errors += e
    if inputs.input is not None:
        r, e = _read_path(Path(inputs.input), inputs.split)
        raw += r
        errors += e
    if not raw and not errors:
        raise InputError("no input: give --smiles or --input")
    out: list[MoleculeInput] = []
    for source, record, name, mol, k in raw:
        try:
            mi = prepare_molecule(source, record, name, mol, k, seed, enumerate_stereo)
        except Exception as exc:  # RDKit errors on odd inputs: reported per record, never dropped
            errors.append(RecordError(source, f"{record} ({name})", f"cannot prepare molecule: {exc}"))
            continue
        reason = check_supported(mi, max_atoms, elements)
        if reason:
            errors.append(mi.error(reason))
            continue
        out.append(mi)
    return out, errors
