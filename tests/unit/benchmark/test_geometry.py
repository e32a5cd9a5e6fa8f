"""Bond-length / bond-angle errors of generated conformers against references (pipeline.benchmark.geometry)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.benchmark.geometry import angle_triples, bond_angles, local_geometry_errors

# water-like: O(0) bonded to H(1), H(2)
BONDS = np.array([[0, 1, 1], [0, 2, 1]])


def _water(r: float, theta_deg: float) -> np.ndarray:
    t = np.radians(theta_deg)
    return np.array([[0.0, 0.0, 0.0], [r, 0.0, 0.0], [r * np.cos(t), r * np.sin(t), 0.0]])


def test_angle_triples_of_a_chain_and_a_branch():
    assert angle_triples(BONDS, 3).tolist() == [[1, 0, 2]]
    # propane-like chain 0-1-2-3 plus branch 1-4: angles at 1 (three) and at 2 (one)
    chain = np.array([[0, 1], [1, 2], [2, 3], [1, 4]])
    assert sorted(map(tuple, angle_triples(chain, 5).tolist())) == [(0, 1, 2), (0, 1, 4), (1, 2, 3), (2, 1, 4)]


def test_errors_are_the_known_displacements():
    ref = np.stack([_water(0.96, 104.5), _water(0.98, 104.5)])  # mean bond 0.97
    gen = np.stack([_water(1.07, 114.5), _water(0.87, 94.5)])  # ±0.1 Å, ±10°
    out = local_geometry_errors(gen, ref, BONDS)
    assert out["bond_mae"] == pytest.approx(0.1, abs=1e-9)
    assert out["angle_mae"] == pytest.approx(10.0, abs=1e-6)
    assert bond_angles(gen, angle_triples(BONDS, 3))[0, 0] == pytest.approx(114.5)


def test_rigid_motion_costs_nothing_and_atom_counts_must_match():
    rng = np.random.default_rng(0)
    ref = _water(0.96, 104.5)[None]
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    moved = ref @ q.T + rng.normal(size=3)
    out = local_geometry_errors(moved, ref, BONDS)
    assert out["bond_mae"] < 1e-12 and out["angle_mae"] < 1e-5
    with pytest.raises(ValueError, match="atom counts differ"):
        local_geometry_errors(np.zeros((1, 4, 3)), ref, BONDS)
