"""The denoiser is E(3)-equivariant (float64), permutation-equivariant, and chirality-aware.

Conventions: the output lives in the space of centred conformers, so translating the input must
leave the output unchanged; rotations rotate it; an improper rotation (reflection) together with
flipping the chirality pseudoscalar reflects it; a reflection of the geometry *alone* must not.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("rdkit")
from e3nn import o3  # noqa: E402
from rdkit import Chem  # noqa: E402
from rdkit.Chem import AllChem  # noqa: E402
from torch_geometric.data import Batch  # noqa: E402

from pipeline.model.features import featurize  # noqa: E402
from pipeline.model.precond import build_denoiser  # noqa: E402
from pipeline.model.spec import ModelSpec, net_preset  # noqa: E402

SMILES = ["C[C@H](N)C(=O)O", "F[C@@](Cl)(Br)C/C=C/C", "CCO"]
TOL = 1e-9


def _mol(smi: str, seed: int = 0):
    m = Chem.AddHs(Chem.MolFromSmiles(smi))
    assert AllChem.EmbedMolecule(m, randomSeed=seed) == 0
    return m


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    # fc_max_atoms=10: the two larger molecules take the cutoff+bonds edge path, ethanol is fully connected
    spec = ModelSpec(size="custom", net=net_preset("tiny", fc_max_atoms=10, cutoff=3.0, tensors=2, lmax=2))
    model = build_denoiser(spec).double().eval()
    mols = [_mol(s) for s in SMILES]
    graph = Batch.from_data_list([featurize(m) for m in mols])
    x0 = torch.cat([torch.tensor(m.GetConformer().GetPositions()) for m in mols])
    gen = torch.Generator().manual_seed(1)
    x = x0 + 0.3 * torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    t = torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)
    return model, mols, graph, x, t


def _run(model, x, t, graph):
    with torch.no_grad():
        return model(x, t, graph)


def test_output_centred(setup):
    model, _, graph, x, t = setup
    out = _run(model, x, t, graph)
    for m in range(graph.num_graphs):
        assert out[graph.batch == m].mean(0).abs().max() < TOL


def test_rotation(setup):
    model, _, graph, x, t = setup
    rot = o3.rand_matrix(dtype=torch.float64)
    a = _run(model, x @ rot.T, t, graph)
    b = _run(model, x, t, graph) @ rot.T
    assert (a - b).abs().max() < TOL


def test_translation_invariance_of_centred_output(setup):
    model, _, graph, x, t = setup
    shift = torch.tensor([3.0, -2.0, 5.0], dtype=torch.float64)
    a = _run(model, x + shift, t, graph)
    b = _run(model, x, t, graph)
    assert (a - b).abs().max() < TOL


def test_atom_permutation(setup):
    """Renumber the atoms of each molecule in RDKit, re-featurize: the output follows the atoms."""
    model, mols, graph, x, t = setup
    gen = torch.Generator().manual_seed(3)
    perms, new_mols = [], []
    for m in mols:
        p = torch.randperm(m.GetNumAtoms(), generator=gen)
        perms.append(p)
        new_mols.append(Chem.RenumberAtoms(m, p.tolist()))
    ptr = graph.ptr
    global_perm = torch.cat([ptr[i] + p for i, p in enumerate(perms)])
    assert not torch.equal(global_perm, torch.arange(global_perm.numel()))
    graph2 = Batch.from_data_list([featurize(m) for m in new_mols])
    a = _run(model, x[global_perm], t, graph2)
    b = _run(model, x, t, graph)[global_perm]
    assert (a - b).abs().max() < TOL


def _improper(seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return -o3.rand_matrix(dtype=torch.float64)  # det = -1


def test_reflection_with_pseudoscalar_flip(setup):
    model, _, graph, x, t = setup
    q = _improper(5)
    assert torch.det(q) < 0
    mirrored = graph.clone()
    mirrored.chirality = -graph.chirality
    a = _run(model, x @ q.T, t, mirrored)
    b = _run(model, x, t, graph) @ q.T
    assert (a - b).abs().max() < TOL


def test_reflection_of_geometry_alone_is_not_mirrored(setup):
    """With the chirality input unchanged, the network must be free to *not* mirror its output."""
    model, _, graph, x, t = setup
    assert graph.chirality.abs().sum() > 0
    q = _improper(5)
    a = _run(model, x @ q.T, t, graph)
    b = _run(model, x, t, graph) @ q.T
    # equivariance errors are ~1e-12 here (float64); the chirality-driven difference is orders larger
    assert (a - b).abs().max() > 1e-6
