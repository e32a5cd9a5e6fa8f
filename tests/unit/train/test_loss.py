"""The loss metrics: the whitened error is eᵀ Σ⁺ e exactly, the distance loss is what it says (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402
from torch_geometric.data import Batch  # noqa: E402

from pipeline.model.features import featurize  # noqa: E402
from pipeline.prior.batch import PriorBatch  # noqa: E402
from pipeline.prior.params import PriorParams  # noqa: E402
from pipeline.train.loss import local_distance_error, per_molecule_error  # noqa: E402

SMILES = ["CC(=O)Nc1ccc(O)cc1", "[Na+].[O-]C(=O)c1ccccc1", "CCO"]


def _batch(params: PriorParams):
    mols = [Chem.AddHs(Chem.MolFromSmiles(s)) for s in SMILES]
    graphs = [featurize(m) for m in mols]
    bonds = [g.bonds.numpy() for g in graphs]
    factors = [params.factor(g.num_nodes, b) for g, b in zip(graphs, bonds)]
    prior = PriorBatch.from_factors([f[0] for f in factors], [f[1] for f in factors], dtype=torch.float64)
    return Batch.from_data_list(graphs), prior, factors


@pytest.mark.parametrize("lam_mode", ["identity", "fragments"])
def test_whitened_error_is_the_sigma_pseudo_inverse_metric(lam_mode):
    params = PriorParams(c=0.2, kappa=5.0, lam=0.3, lam_mode=lam_mode)
    graph, prior, factors = _batch(params)
    gen = torch.Generator().manual_seed(0)
    e = prior.center(torch.randn(graph.num_nodes, 3, generator=gen, dtype=torch.float64))
    x0 = torch.randn(graph.num_nodes, 3, generator=gen, dtype=torch.float64)
    got = per_molecule_error(x0 + e, x0, prior, graph.batch, graph.num_graphs, "whitened")
    for m, (R, _) in enumerate(factors):
        em = e[graph.batch == m].numpy()
        sigma_pinv = np.linalg.pinv(R @ R.T, rcond=1e-10)
        want = np.einsum("id,ij,jd->", em, sigma_pinv, em) / em.shape[0]
        assert got[m].item() == pytest.approx(want, rel=1e-8)
    # and it is not the Euclidean error: stiff modes weigh more
    euc = per_molecule_error(x0 + e, x0, prior, graph.batch, graph.num_graphs, "euclidean")
    assert not torch.allclose(got, euc)


def test_whitened_error_weighs_a_bond_stretch_more_than_a_soft_mode():
    """The same Euclidean error costs more along a bond than as a rigid shift of a whole fragment."""
    params = PriorParams(c=0.2, kappa=5.0, lam=0.3, lam_mode="fragments")
    graph, prior, _ = _batch(params)
    n = int((graph.batch == 0).sum())
    x0 = torch.zeros(graph.num_nodes, 3, dtype=torch.float64)
    stretch = torch.zeros_like(x0)
    stretch[0, 0], stretch[1, 0] = 0.1, -0.1  # atoms 0 and 1 are bonded: a bond stretch
    shift = torch.zeros_like(x0)
    shift[graph.batch == 0, 0] = torch.linspace(-1, 1, n, dtype=torch.float64)  # a smooth, long-wavelength mode
    shift = shift * (stretch.norm() / shift.norm())
    a = per_molecule_error(prior.center(stretch), x0, prior, graph.batch, graph.num_graphs, "whitened")[0]
    b = per_molecule_error(prior.center(shift), x0, prior, graph.batch, graph.num_graphs, "whitened")[0]
    assert a > 5 * b


def test_local_distance_error_matches_brute_force_and_ignores_rigid_motion():
    from e3nn import o3

    graph, _, _ = _batch(PriorParams())
    gen = torch.Generator().manual_seed(1)
    x0 = 3 * torch.randn(graph.num_nodes, 3, generator=gen, dtype=torch.float64)
    x = x0 + 0.2 * torch.randn(graph.num_nodes, 3, generator=gen, dtype=torch.float64)
    got = local_distance_error(x, x0, graph, graph.num_graphs)
    for m, smi in enumerate(SMILES):
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        hops = Chem.GetDistanceMatrix(mol)
        a, b = x[graph.batch == m].numpy(), x0[graph.batch == m].numpy()
        i, j = np.nonzero((hops >= 1) & (hops <= 3))
        da = np.linalg.norm(a[i] - a[j], axis=1)
        db = np.linalg.norm(b[i] - b[j], axis=1)
        assert got[m].item() == pytest.approx(np.mean((da - db) ** 2), rel=1e-8)
    rot = o3.rand_matrix(dtype=torch.float64)
    moved = x0 @ rot.T + torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    assert local_distance_error(moved, x0, graph, graph.num_graphs).abs().max() < 1e-10
