"""Ensemble metrics on hand-made cases with known answers (COV/AMR, RMSD invariances, mirror images)."""

from __future__ import annotations

import math

import numpy as np
import pytest

Chem = pytest.importorskip("rdkit.Chem")
from rdkit.Chem import rdDistGeom, rdMolAlign, rdMolTransforms  # noqa: E402

from pipeline.chem import conformer_coords, set_conformers  # noqa: E402
from pipeline.validate.metrics import RmsdTask, coverage_metrics, cov_curve, ensemble_metrics, rmsd_matrix, rmsd_matrices  # noqa: E402

CAMPHOR = "CC1(C)[C@@H]2CC[C@@]1(C)C(=O)C2"


def embed(smiles: str, n: int, seed: int = 42):
    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    p = rdDistGeom.ETKDGv3()
    p.randomSeed = seed
    assert len(rdDistGeom.EmbedMultipleConfs(m, n, p)) == n
    return m


def kabsch_rmsd(a: np.ndarray, b: np.ndarray) -> float:
    """Independent reference: RMSD after optimal proper rotation (numpy SVD), fixed atom order."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1.0, 1.0, d]) @ vt
    return float(np.sqrt(((a @ r - b) ** 2).sum(1).mean()))


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_identical_sets_full_coverage_zero_amr():
    m = embed("CCOc1ccccc1C(=O)NC", 5)
    out = ensemble_metrics(m, m, deltas=(0.75, 0.5, 0.1))
    for d in (0.75, 0.5, 0.1):
        assert out[f"COV-R_{d:g}"] == 1.0
        assert out[f"COV-P_{d:g}"] == 1.0
    assert out["AMR-R"] < 1e-6 and out["AMR-P"] < 1e-6
    assert np.allclose(np.diag(out["rmsd"]), 0.0, atol=1e-6)
    # distinct ETKDG conformers are not all identical: the matrix has real off-diagonal entries
    assert out["rmsd"][~np.eye(5, dtype=bool)].max() > 0.3


def test_rigid_motion_gives_zero_rmsd():
    rng = np.random.default_rng(0)
    ref = embed("CC(C)Cc1ccc(cc1)C(C)C(=O)O", 3)
    moved = Chem.Mol(ref)
    xyz = conformer_coords(ref)
    set_conformers(moved, np.stack([x @ random_rotation(rng).T + rng.normal(scale=5.0, size=3) for x in xyz]))
    D = rmsd_matrix(moved, ref)
    assert np.allclose(np.diag(D), 0.0, atol=1e-5)
    assert not np.allclose(conformer_coords(moved)[0], xyz[0], atol=0.1)  # it really moved


def test_torsion_change_matches_independent_kabsch():
    # 5-aminopentan-1-ol's heavy-atom graph has no symmetry, so the best map is the identity
    ref = embed("NCCCCO", 1, seed=3)
    gen = Chem.Mol(ref)
    conf = gen.GetConformer()
    rdMolTransforms.SetDihedralDeg(conf, 1, 2, 3, 4, rdMolTransforms.GetDihedralDeg(conf, 1, 2, 3, 4) + 120.0)
    heavy = [a.GetIdx() for a in ref.GetAtoms() if a.GetAtomicNum() > 1]
    expected = kabsch_rmsd(conformer_coords(gen)[0][heavy], conformer_coords(ref)[0][heavy])
    got = rmsd_matrix(gen, ref)[0, 0]
    assert expected > 0.5  # the torsion change moved the chain end
    assert got == pytest.approx(expected, abs=1e-4)


def test_mirror_image_is_not_a_match():
    ref = embed(CAMPHOR, 1, seed=7)
    mirror = Chem.Mol(ref)
    set_conformers(mirror, conformer_coords(ref) * np.array([-1.0, 1.0, 1.0]))
    out = ensemble_metrics(mirror, ref, deltas=(0.5,))
    assert out["COV-R_0.5"] == 0.0 and out["COV-P_0.5"] == 0.0
    assert out["AMR-R"] > 1.0
    # the same pair aligned *with* reflection allowed superimposes: the metric, not the geometry, refuses it
    heavy_ref, heavy_mir = Chem.RemoveHs(ref), Chem.RemoveHs(mirror)
    amap = list(zip(range(heavy_ref.GetNumAtoms()), range(heavy_ref.GetNumAtoms())))
    assert rdMolAlign.AlignMol(heavy_mir, heavy_ref, atomMap=amap, reflect=True) < 1e-4


def test_symmetric_atoms_are_matched():
    # a phenyl ring flip relabels atoms; the best map undoes it
    ref = embed("Cc1ccccc1", 1)
    perm = list(range(ref.GetNumAtoms()))
    ring = [a.GetIdx() for a in ref.GetAtoms() if a.GetIsAromatic()]
    gen = Chem.RenumberAtoms(ref, perm[::-1])
    assert rmsd_matrix(gen, ref)[0, 0] < 1e-5
    assert len(ring) == 6


def test_coverage_from_a_hand_matrix():
    D = np.array([[0.2, 1.0], [0.9, 0.8]])
    out = coverage_metrics(D, [0.5, 0.85])
    assert out["COV-R_0.5"] == 0.5 and out["COV-R_0.85"] == 1.0
    assert out["COV-P_0.5"] == 0.5 and out["COV-P_0.85"] == 1.0
    assert out["AMR-R"] == pytest.approx((0.2 + 0.8) / 2)
    assert out["AMR-P"] == pytest.approx((0.2 + 0.8) / 2)
    # the only good sample is invalid: it can no longer cover, and counts as a miss for precision
    out = coverage_metrics(D, [0.5], valid=np.array([False, True]))
    assert out["COV-R_0.5"] == 0.0 and out["COV-P_0.5"] == 0.0
    assert out["AMR-R"] == pytest.approx((1.0 + 0.8) / 2)
    assert out["AMR-P"] == pytest.approx(0.8)
    # no valid sample at all: coverage 0, AMR undefined
    out = coverage_metrics(D, [0.5], valid=np.array([False, False]))
    assert out["COV-R_0.5"] == 0.0 and out["COV-P_0.5"] == 0.0 and math.isnan(out["AMR-R"])
    rec, prec = cov_curve(D, np.array([0.1, 0.5, 2.0]))
    assert list(rec) == [0.0, 0.5, 1.0] and list(prec) == [0.0, 0.5, 1.0]


def test_parallel_matrices_equal_serial():
    tasks = [RmsdTask(embed(s, 3, seed=1), embed(s, 2, seed=2)) for s in ("CCOCC(=O)N", "c1ccccc1CCN", "CC(C)(C)O")]
    serial = rmsd_matrices(tasks, workers=1)
    parallel = rmsd_matrices(tasks, workers=2, min_parallel_pairs=0)
    for a, b in zip(serial, parallel):
        assert a.shape == (2, 3)
        assert np.allclose(a, b, atol=1e-6)


def test_graph_mismatch_is_reported_per_molecule():
    out = rmsd_matrices([RmsdTask(embed("CCO", 1), embed("CCN", 1))], workers=1)
    assert isinstance(out[0], Exception)
