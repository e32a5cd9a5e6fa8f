"""Bond graph → bond-shaped covariance: ``J = c·(L + κL² + λM)``, ``Σ = P J⁺ P``, ``R = P U diag(d^-1/2)``.

Conventions (docs/design.md §2):

* ``L`` is the graph Laplacian of the molecule *including hydrogens*. By default it is
  **unweighted** (every bond weighs 1, whatever its order); ``weighted=True`` uses the bond order
  as weight (single 1, double 2, triple 3, aromatic 1.5), which makes multiple bonds stiffer.
* ``κ ≥ 0`` is a bending term: ``L²`` penalises the second differences of the positions along
  the bond graph (``|Σ_j∈N(i) (x_i − x_j)|²`` per atom), which stiffens chains so that a molecule
  is as extended as a real one at the same bond length (a Gaussian chain of plain springs is a
  random-walk coil). ``L²`` shares ``L``'s eigenvectors and its null space (per-fragment
  constants), so fragment centroids still move only through ``λ``.
* ``P = I − 11ᵀ/N`` centres; ``J = U diag(d) Uᵀ`` (``eigh``); ``R = P U diag(d^-1/2)`` so that
  ``R Rᵀ = P J⁻¹ P = Σ`` exactly and every ``R z`` is centred.
* ``λ > 0`` makes ``J`` invertible for any graph, so salts / multi-fragment inputs get a proper Σ:
  in both modes below the centred fragment indicators are eigenvectors of ``J`` with stiffness ``cλ``, so a
  fragment of ``n`` atoms has its centroid move with a standard deviation of about
  ``1/sqrt(c λ n)`` Å per axis and a lone ion sits ``sqrt(3/(cλ))`` Å (rms) from a large rest. How
  far that is depends on how λ was chosen: a few Å in ``lam_mode="fragments"`` (λ = 3/(c r²) with
  ``calibration.fragment_rms`` r, 5 Å by default) or in identity mode with κ = 0 (≈ 6 Å at the
  ``lam_min`` floor), but 21–29 Å in identity mode after a κ fit (c is then 12–21× smaller;
  measured in docs/prior.md). ``λ = 0`` is allowed only for a connected graph
  (``Σ = P L⁺ P / c``); a disconnected graph with ``λ = 0`` is an error, never silently dropped.
* ``lam_mode`` says what λ multiplies (``M``):

  - ``"identity"`` (``M = I``, the default of ``PriorParams`` and every ``prior.json`` written before
    the field existed): λ shifts every mode, so it also compacts each fragment;
  - ``"fragments"`` (``M = Π₀ − 11ᵀ/N``, ``Π₀`` the projector on the null space of ``L``, i.e. the span
    of the fragment indicator vectors): λ acts on the fragment-centroid modes only. The stiffness of
    mode k is ``s_k = μ_k + κμ_k²`` for the ``N − n_frag`` non-null modes of ``L`` and ``s_k = λ`` for
    the ``n_frag − 1`` null modes orthogonal to the global centroid (which is projected out). For a
    connected molecule λ has no effect at all (``Σ = P (L + κL²)⁺ P / c``); two fragments of ``n₁``,
    ``n₂`` atoms have centroids ``3 (1/n₁ + 1/n₂)/(cλ)`` apart (mean square), whatever c and κ.

  Both give ``J Σ = P`` (``J`` commutes with ``P``; its null space is the constant vector at most).
* A single atom has ``Σ = 0`` (the only centred configuration is the origin).

Everything here is numpy, float64.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = [
    "BOND_ORDER_WEIGHT", "LAM_MODES", "LamMode", "graph_laplacian", "prior_factor", "n_components", "fragment_labels",
    "centering_matrix", "fragment_basis", "mode_stiffness",
]  # fmt: skip

#: what λ multiplies: ``I`` (every mode) or the fragment-centroid modes only (see the module doc)
LamMode = Literal["identity", "fragments"]
LAM_MODES: tuple[str, ...] = ("identity", "fragments")

#: Laplacian weight per RDKit BondType value when ``weighted=True`` (12 = aromatic).
BOND_ORDER_WEIGHT: dict[int, float] = {1: 1.0, 2: 2.0, 3: 3.0, 12: 1.5}


def _as_bonds(n_atoms: int, bonds: np.ndarray | None) -> np.ndarray:
    """Validate ``bonds`` ([B,2] or [B,3] = (i, j[, RDKit type])) and return it as int64 [B, 3]."""
    if bonds is None:
        return np.zeros((0, 3), dtype=np.int64)
    b = np.asarray(bonds)
    if b.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    if b.ndim != 2 or b.shape[1] not in (2, 3):
        raise ValueError(f"bonds must have shape [B, 2] or [B, 3], got {b.shape}")
    b = b.astype(np.int64)
    if b.shape[1] == 2:
        b = np.concatenate([b, np.ones((b.shape[0], 1), dtype=np.int64)], axis=1)
    ij = b[:, :2]
    if ij.min() < 0 or ij.max() >= n_atoms:
        raise ValueError(f"bond atom index out of range [0, {n_atoms}): min {ij.min()}, max {ij.max()}")
    if np.any(ij[:, 0] == ij[:, 1]):
        raise ValueError(f"self-bond on atom {int(ij[ij[:, 0] == ij[:, 1], 0][0])}")
    return b


def graph_laplacian(n_atoms: int, bonds: np.ndarray | None, weighted: bool = False) -> np.ndarray:
    """Graph Laplacian ``L = D − A`` [N, N] (float64) of a molecule.

    ``bonds``: [B, 2] or [B, 3] (i, j, RDKit bond type). Unweighted by default; with
    ``weighted=True`` each bond weighs its order (:data:`BOND_ORDER_WEIGHT`, unknown types weigh 1).
    A bond listed twice counts twice (a caller's duplicate is a caller's bug, not hidden here).
    """
    if n_atoms < 1:
        raise ValueError(f"a molecule needs at least one atom, got n_atoms={n_atoms}")
    b = _as_bonds(n_atoms, bonds)
    if weighted:
        w = np.array([BOND_ORDER_WEIGHT.get(int(t), 1.0) for t in b[:, 2]], dtype=np.float64)
    else:
        w = np.ones(b.shape[0], dtype=np.float64)
    lap = np.zeros((n_atoms, n_atoms), dtype=np.float64)
    i, j = b[:, 0], b[:, 1]
    np.add.at(lap, (i, j), -w)
    np.add.at(lap, (j, i), -w)
    np.add.at(lap, (i, i), w)
    np.add.at(lap, (j, j), w)
    return lap


def fragment_labels(n_atoms: int, bonds: np.ndarray | None) -> np.ndarray:
    """Connected-component label per atom [N] (int64, labels 0..k-1 in order of first atom; union-find)."""
    parent = list(range(n_atoms))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, j, _ in _as_bonds(n_atoms, bonds):
        ri, rj = find(int(i)), find(int(j))
        if ri != rj:
            parent[ri] = rj
    roots = [find(a) for a in range(n_atoms)]
    first: dict[int, int] = {}
    return np.array([first.setdefault(r, len(first)) for r in roots], dtype=np.int64)


def n_components(n_atoms: int, bonds: np.ndarray | None) -> int:
    """Number of connected components (fragments) of the bond graph."""
    return int(fragment_labels(n_atoms, bonds).max()) + 1 if n_atoms > 0 else 0


def centering_matrix(n_atoms: int) -> np.ndarray:
    """``P = I − 11ᵀ/N``."""
    return np.eye(n_atoms) - np.full((n_atoms, n_atoms), 1.0 / n_atoms)


def fragment_basis(n_atoms: int, bonds: np.ndarray | None) -> np.ndarray:
    """Orthonormal basis ``Q`` [N, k] of the null space of ``L`` (the span of the k fragment indicators),
    with ``Q[:, 0] = ±1/sqrt(N)`` (the global centroid) and columns 1..k-1 orthogonal to it.

    Built exactly from the fragment labels (QR of ``[1, 1_f₀, …, 1_f_{k−2}]``), not from a numerical
    eigenspace: the null space of ``L`` is degenerate, so only the eigenspace, not its basis, is defined.
    """
    labels = fragment_labels(n_atoms, bonds)
    k = int(labels.max()) + 1
    m = np.zeros((n_atoms, k), dtype=np.float64)
    m[:, 0] = 1.0
    for f in range(k - 1):
        m[labels == f, f + 1] = 1.0
    q, _ = np.linalg.qr(m)
    return q


def mode_stiffness(mu: np.ndarray, null: np.ndarray, kappa: float, lam: float, lam_mode: str = "identity") -> np.ndarray:
    """``s_k`` with ``J = c U diag(s) Uᵀ`` for Laplacian eigenvalues ``mu`` (``null``: the modes in L's null space).

    ``"identity"``: ``s = μ + κμ² + λ``; ``"fragments"``: ``s = μ + κμ²`` off the null space and ``λ`` on it
    (the global centroid among the null modes is the caller's to drop: it is projected out). The one formula
    shared by the factor (``prior_factor``) and the closed-form calibration statistics (``calibrate``).
    """
    if lam_mode not in LAM_MODES:
        raise ValueError(f"lam_mode must be one of {LAM_MODES}, got {lam_mode!r}")
    s = mu + kappa * mu**2
    if lam_mode == "identity":
        return s + lam
    return np.where(null, lam, s)


def prior_factor(
    n_atoms: int,
    bonds: np.ndarray | None,
    c: float,
    lam: float,
    weighted: bool = False,
    kappa: float = 0.0,
    lam_mode: str = "identity",
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(R [N, N], d [N])`` with ``J = c (L + κL² + λM) = U diag(d) Uᵀ`` and ``R = P U diag(d^-1/2)``.

    ``R Rᵀ = Σ = P J⁺ P`` exactly; columns of ``R`` are centred. ``M = I`` (``lam_mode="identity"``) or the
    projector on the fragment modes orthogonal to the centroid (``"fragments"``, see the module doc). A
    zero mode of ``J`` (the constant vector: ``λ = 0`` on a connected graph, or any λ in fragments mode)
    gets a zero column, i.e. ``J⁻¹`` is the pseudo-inverse. In fragments mode ``U`` holds the eigenvectors
    of ``L`` with its null space spanned by :func:`fragment_basis` (column 0: the centroid, ``d = 0``).
    """
    if not c > 0:
        raise ValueError(f"prior scale c must be > 0, got {c}")
    if lam < 0:
        raise ValueError(f"prior lambda must be >= 0, got {lam}")
    if not kappa >= 0:
        raise ValueError(f"prior kappa (bending) must be >= 0, got {kappa}")
    if lam_mode not in LAM_MODES:
        raise ValueError(f"lam_mode must be one of {LAM_MODES}, got {lam_mode!r}")
    lap = graph_laplacian(n_atoms, bonds, weighted)
    k = n_components(n_atoms, bonds) if lam == 0 or lam_mode == "fragments" else 0  # union-find only when needed
    if lam == 0 and n_atoms > 1 and k > 1:
        raise ValueError(f"graph has {k} fragments: lam must be > 0 to keep them together")
    if lam_mode == "fragments":
        return _fragments_factor(n_atoms, bonds, lap, k, c, lam, kappa)
    stiff = lap + kappa * (lap @ lap) if kappa else lap
    d, u = np.linalg.eigh(c * (stiff + lam * np.eye(n_atoms)))
    if lam == 0:
        tol = 1e-9 * max(float(d.max()), 1.0)
        inv_sqrt = np.where(d > tol, 1.0 / np.sqrt(np.clip(d, tol, None)), 0.0)
    else:
        inv_sqrt = 1.0 / np.sqrt(d)
    pu = u - u.mean(axis=0, keepdims=True)  # P U without forming P
    return pu * inv_sqrt[None, :], d


def _fragments_factor(
    n_atoms: int, bonds: np.ndarray | None, lap: np.ndarray, k: int, c: float, lam: float, kappa: float
) -> tuple[np.ndarray, np.ndarray]:
    """``prior_factor`` for ``lam_mode="fragments"``: eigenvectors of ``L``, λ on its null space only."""
    mu, u = np.linalg.eigh(lap)  # ascending: the k null modes come first
    u[:, :k] = fragment_basis(n_atoms, bonds)
    null = np.arange(n_atoms) < k
    d = c * mode_stiffness(np.clip(mu, 0.0, None), null, kappa, lam, "fragments")
    d[0] = 0.0  # the global centroid: projected out by P
    if n_atoms > k and not d[k:].min() > 0:
        raise ValueError(f"Laplacian has more than {k} zero eigenvalues for {k} fragments (numerical trouble)")
    inv_sqrt = np.zeros(n_atoms)
    inv_sqrt[1:] = 1.0 / np.sqrt(d[1:])
    pu = u - u.mean(axis=0, keepdims=True)
    return pu * inv_sqrt[None, :], d
