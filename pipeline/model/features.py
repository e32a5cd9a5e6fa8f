"""Graph features for the denoiser: an RDKit molecule (explicit H) -> a torch-geometric ``Data``.

Node features (``x``, float, one row per atom; layout fixed by :class:`FeatureConfig`):
element one-hot (+ "other"), formal charge one-hot (-2..+2, clipped), aromatic flag,
hybridisation one-hot, ring membership + ring sizes 3..8, degree one-hot (0..6), attached-H count
one-hot (0..4).

Chirality (``chirality``, float [N]): a per-atom **pseudoscalar** (e3nn ``0o``) defined from the
graph. For a tetrahedral stereocentre it is the *target sign* of the signed volume

* 4 neighbours: ``det[p1 - p0, p2 - p0, p3 - p0]``,
* 3 neighbours: ``det[p0 - c, p1 - c, p2 - c]`` (c = the centre),

with the neighbours ``p0, p1, ...`` taken in canonical-rank order (``CanonicalRankAtoms`` without
chirality, so both enantiomers rank their atoms identically); 0 for atoms without specified
tetrahedral stereo. Mirroring a molecule flips every value, which is what makes it a pseudoscalar.
:func:`signed_volumes` computes the same quantity from coordinates (used by tests and guards).

Pair features, stored per molecule as flattened ``N*N`` arrays (index ``a*N + b``) so that the
model can gather them for any edge set with plain torch ops:

* ``pair_hops``: graph distance (0 = self, 1..max_hops, ``max_hops+1`` = farther,
  ``max_hops+2`` = other fragment);
* ``pair_bond``: 0 none, 1 single, 2 double, 3 triple, 4 aromatic, 5 other;
* ``pair_stereo`` (E/Z): for each pair (a, b) of substituents across a stereo double bond
  a-j=k-b: 1 cis, 2 trans (0 otherwise). This is the E/Z label expressed on the atoms whose
  distance it constrains.

* ``pair_lower`` / ``pair_upper`` (only with ``FeatureConfig.dg_bounds``): RDKit's distance-geometry
  bounds of the pair in Å (``rdDistGeom.GetMoleculeBoundsMatrix``, triangle-smoothed; upper bounds
  capped at :data:`MAX_BOUND`), so the 1-2 / 1-3 / 1-4 target distances are inputs of the network.

``bonds`` ([B, 3] int64, (i, j, RDKit bond-type value), local indices) and ``num_bonds`` are what
the prior needs (:func:`split_bonds` recovers the per-molecule arrays from a batch).
RDKit is imported inside functions (the GPU training image may not have it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

if TYPE_CHECKING:  # pydantic: not on the training path of a GPU machine (any object with these fields works)
    from pipeline.model.spec import FeatureConfig

__all__ = ["featurize", "dg_bounds", "ranked_neighbours", "stereo_pairs", "node_feature_dim", "pair_feature_dims", "signed_volumes", "chirality_targets", "split_bonds"]

_HYBRID_NAMES = ("S", "SP", "SP2", "SP3", "SP3D", "SP3D2")
_RING_SIZES = (3, 4, 5, 6, 7, 8)
_MAX_DEGREE = 6
_MAX_HS = 4
_CHARGES = (-2, -1, 0, 1, 2)
N_BOND_CLASSES = 6
N_STEREO_CLASSES = 3
MAX_BOUND = 50.0  # Å; RDKit's upper bound of unconstrained pairs (1000) is capped here


def node_feature_dim(cfg: FeatureConfig) -> int:
    """Length of a node feature row for ``cfg``."""
    return (len(cfg.elements) + 1) + len(_CHARGES) + 1 + (len(_HYBRID_NAMES) + 1) + 1 + len(_RING_SIZES) + (_MAX_DEGREE + 1) + (_MAX_HS + 1)


def pair_feature_dims(cfg: FeatureConfig) -> tuple[int, int, int]:
    """Number of classes of (pair_hops, pair_bond, pair_stereo)."""
    return cfg.max_hops + 3, N_BOND_CLASSES, N_STEREO_CLASSES


def _one_hot(index: int, size: int) -> list[float]:
    row = [0.0] * size
    row[min(max(index, 0), size - 1)] = 1.0
    return row


def _node_row(atom, cfg: FeatureConfig, hybrid_index: dict) -> list[float]:
    z = atom.GetAtomicNum()
    elem = cfg.elements.index(z) if z in cfg.elements else len(cfg.elements)
    charge = min(max(atom.GetFormalCharge(), _CHARGES[0]), _CHARGES[-1]) - _CHARGES[0]
    hyb = hybrid_index.get(atom.GetHybridization(), len(_HYBRID_NAMES))
    row = _one_hot(elem, len(cfg.elements) + 1)
    row += _one_hot(charge, len(_CHARGES))
    row += [float(atom.GetIsAromatic())]
    row += _one_hot(hyb, len(_HYBRID_NAMES) + 1)
    row += [float(atom.IsInRing())] + [float(atom.IsInRingSize(s)) for s in _RING_SIZES]
    row += _one_hot(atom.GetDegree(), _MAX_DEGREE + 1)
    row += _one_hot(atom.GetTotalNumHs(), _MAX_HS + 1)
    return row


def _bond_class(bond) -> int:
    from rdkit import Chem

    bt = bond.GetBondType()
    return {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3, Chem.BondType.AROMATIC: 4}.get(bt, 5)


def _permutation_parity(seq: Sequence[int]) -> int:
    """+1 for an even permutation of sorted(seq), -1 for odd."""
    seq = list(seq)
    parity = 1
    for i in range(len(seq)):
        for j in range(i + 1, len(seq)):
            if seq[i] > seq[j]:
                parity = -parity
    return parity


def ranked_neighbours(mol, ranks: Sequence[int]) -> list[list[int]]:
    """Per atom, its neighbours sorted by ``ranks`` (canonical ranks without chirality): the order of :func:`signed_volumes`."""
    return [sorted((n.GetIdx() for n in a.GetNeighbors()), key=lambda k: ranks[k]) for a in mol.GetAtoms()]


def chirality_targets(mol) -> np.ndarray:
    """[N] target sign (+1/-1) of :func:`signed_volumes` per atom from the RDKit chiral tags; 0 elsewhere.

    RDKit's tag is relative to the atom's bond order: CCW means that, looking from the first
    neighbour, the others turn counter-clockwise, which makes ``det[p1-p0, p2-p0, p3-p0]`` (bond
    order) negative; for three neighbours the implicit fourth (lone pair / H) counts as the
    first, giving ``det[p0-c, p1-c, p2-c] > 0`` for CCW. Reordering to canonical ranks multiplies
    by the permutation's parity. (Checked against ETKDG conformers in the tests.)
    """
    from rdkit import Chem

    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=True, includeChirality=False))
    out = np.zeros(mol.GetNumAtoms(), dtype=np.float64)
    for atom in mol.GetAtoms():
        tag = atom.GetChiralTag()
        if tag not in (Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW):
            continue
        idx = atom.GetIdx()
        bond_order = [b.GetOtherAtomIdx(idx) for b in atom.GetBonds()]
        if len(bond_order) not in (3, 4):
            continue
        ccw = 1.0 if tag == Chem.ChiralType.CHI_TETRAHEDRAL_CCW else -1.0
        base = -ccw if len(bond_order) == 4 else ccw
        ranked = sorted(bond_order, key=lambda k: ranks[k])
        parity = _permutation_parity([ranked.index(k) for k in bond_order])
        out[idx] = base * parity
    return out


def signed_volumes(pos: torch.Tensor, centres: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """Signed volumes for chirality checks.

    ``pos`` [N, 3]; ``centres`` [C]; ``neighbours`` [C, 4] in canonical-rank order, -1 padding when a
    centre has three neighbours. Returns [C] volumes as defined in the module docstring.
    """
    neighbours = neighbours.reshape(-1, 4).long()
    has4 = neighbours[:, 3] >= 0
    nb = neighbours.clamp(min=0)
    p = pos[nb]  # [C, 4, 3]
    c = pos[centres]
    m4 = torch.stack([p[:, 1] - p[:, 0], p[:, 2] - p[:, 0], p[:, 3] - p[:, 0]], dim=1)
    m3 = torch.stack([p[:, 0] - c, p[:, 1] - c, p[:, 2] - c], dim=1)
    return torch.where(has4, torch.linalg.det(m4), torch.linalg.det(m3))


def stereo_pairs(mol) -> list[tuple[int, int, int]]:
    """(a, b, class) for substituent pairs across stereo double bonds; class 1 cis, 2 trans."""
    from rdkit import Chem

    out = []
    for bond in mol.GetBonds():
        st = bond.GetStereo()
        if st in (Chem.BondStereo.STEREONONE, Chem.BondStereo.STEREOANY) or bond.GetBondType() != Chem.BondType.DOUBLE:
            continue
        ref = list(bond.GetStereoAtoms())
        if len(ref) != 2:
            continue
        cis_ref = st in (Chem.BondStereo.STEREOZ, Chem.BondStereo.STEREOCIS)
        j, k = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        subs_j = [n.GetIdx() for n in mol.GetAtomWithIdx(j).GetNeighbors() if n.GetIdx() != k]
        subs_k = [n.GetIdx() for n in mol.GetAtomWithIdx(k).GetNeighbors() if n.GetIdx() != j]
        ref_j, ref_k = (ref[0], ref[1]) if ref[0] in subs_j else (ref[1], ref[0])
        for a in subs_j:
            for b in subs_k:
                flips = (a != ref_j) + (b != ref_k)
                cis = cis_ref if flips % 2 == 0 else not cis_ref
                out.append((a, b, 1 if cis else 2))
    return out


def dg_bounds(mol) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` [N, N] distance-geometry bounds in Å (symmetric, 0 on the diagonal)."""
    from pipeline.chem import bounds_matrix

    bm = bounds_matrix(mol)
    upper = np.triu(bm, 1)
    lower = np.tril(bm, -1)
    upper = np.minimum(upper + upper.T, MAX_BOUND)
    lower = np.minimum(lower + lower.T, upper)
    return lower.astype(np.float32), upper.astype(np.float32)


def featurize(mol, cfg: FeatureConfig | None = None):
    """RDKit ``Mol`` with explicit hydrogens -> ``torch_geometric.data.Data`` (see module docstring).

    Raises ``ValueError`` for a molecule without atoms or with implicit hydrogens left.
    """
    from rdkit import Chem
    from torch_geometric.data import Data

    if cfg is None:
        from pipeline.model.spec import FeatureConfig

        cfg = FeatureConfig()
    n = mol.GetNumAtoms()
    if n == 0:
        raise ValueError("molecule has no atoms")
    if any(a.GetNumImplicitHs() for a in mol.GetAtoms()):
        raise ValueError("molecule has implicit hydrogens; add them with Chem.AddHs first")
    hybrid_index = {getattr(Chem.HybridizationType, name): i for i, name in enumerate(_HYBRID_NAMES)}
    x = torch.tensor([_node_row(a, cfg, hybrid_index) for a in mol.GetAtoms()], dtype=torch.float32)

    dist = np.asarray(Chem.GetDistanceMatrix(mol))
    hops = np.where(dist > n, cfg.max_hops + 2, np.minimum(dist, cfg.max_hops + 1)).astype(np.int64)
    bond_cls = np.zeros((n, n), dtype=np.int64)
    rows = []
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        bond_cls[i, j] = bond_cls[j, i] = _bond_class(b)
        rows.append((min(i, j), max(i, j), int(b.GetBondType())))
    stereo = np.zeros((n, n), dtype=np.int64)
    for a, b, cls in stereo_pairs(mol):
        stereo[a, b] = stereo[b, a] = cls

    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=True, includeChirality=False))
    bonds = torch.tensor(rows, dtype=torch.long).reshape(-1, 3)
    extra = {}
    if cfg.dg_bounds:
        lower, upper = dg_bounds(mol)
        extra = dict(pair_lower=torch.from_numpy(lower.reshape(-1)), pair_upper=torch.from_numpy(upper.reshape(-1)))
    return Data(
        x=x,
        chirality=torch.tensor(chirality_targets(mol), dtype=torch.float32),
        atomic_numbers=torch.tensor([a.GetAtomicNum() for a in mol.GetAtoms()], dtype=torch.long),
        canonical_rank=torch.tensor(ranks, dtype=torch.long),
        pair_hops=torch.from_numpy(hops.reshape(-1)),
        pair_bond=torch.from_numpy(bond_cls.reshape(-1)),
        pair_stereo=torch.from_numpy(stereo.reshape(-1)),
        bonds=bonds,
        num_bonds=torch.tensor([bonds.shape[0]], dtype=torch.long),
        num_nodes=n,
        **extra,
    )


def split_bonds(batch) -> list[np.ndarray]:
    """Per-molecule [B_m, 3] bond arrays (local indices) from a ``Data``/``Batch``."""
    counts = batch.num_bonds.tolist()
    return [b.cpu().numpy() for b in torch.split(batch.bonds, counts)]
