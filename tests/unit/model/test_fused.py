"""The fused inference path (pipeline.model.fused) computes what the reference e3nn layers compute."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402
from rdkit.Chem import AllChem  # noqa: E402
from torch_geometric.data import Batch  # noqa: E402

from pipeline.model.features import featurize  # noqa: E402
from pipeline.model.fused import FusedMessage, mlp_t  # noqa: E402
from pipeline.model.layers import MLP  # noqa: E402
from pipeline.model.precond import build_denoiser  # noqa: E402
from pipeline.model.spec import ModelSpec, net_preset  # noqa: E402

# a chiral centre, an E double bond, an aromatic ring, a salt (two fragments), a lone ion (no edges)
SMILES = ["C[C@H](N)C(=O)O", "F[C@@](Cl)(Br)C/C=C/C", "c1ccccc1CCO", "C[NH3+].[Cl-]", "[Na+]"]
NETS = {
    "tiny": net_preset("tiny"),
    "tiny-l2-tensors": net_preset("tiny", lmax=2, tensors=2),
    "shipped": net_preset("base", num_layers=3, scalars=32, pseudoscalars=8, vectors=8, tensors=0, lmax=2,
                          num_basis=16, edge_hidden=32, time_dim=16),
}


def _mol(smi: str):
    m = Chem.AddHs(Chem.MolFromSmiles(smi))
    assert AllChem.EmbedMolecule(m, randomSeed=0) == 0
    return m


@pytest.fixture(scope="module")
def batch():
    mols = [_mol(s) for s in SMILES]
    graph = Batch.from_data_list([featurize(m) for m in mols])
    x0 = torch.cat([torch.tensor(m.GetConformer().GetPositions()) for m in mols])
    x = x0 + 0.5 * torch.randn(x0.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = torch.linspace(0.05, 0.95, len(mols), dtype=torch.float64)
    return graph, x, t


def _both(model, x, t, graph):
    with torch.no_grad():
        model.net.fused_inference = False
        ref = model(x, t, graph)
        model.net.fused_inference = True
        fused = model(x, t, graph)
    return ref, fused


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("fc_max_atoms", [64, 6])  # 6: the larger molecules use cutoff + bond edges
def test_fused_matches_reference(batch, name, fc_max_atoms):
    graph, x, t = batch
    torch.manual_seed(0)
    spec = ModelSpec(size="custom", net=NETS[name].model_copy(update={"fc_max_atoms": fc_max_atoms, "cutoff": 3.0}))
    model = build_denoiser(spec).eval()
    # float64: the two paths differ only in the order of sums (e3nn keeps its Wigner 3j in float32)
    ref, fused = _both(model.double(), x, t, graph)
    scale = float(ref.abs().max())
    assert scale > 0.1
    assert float((ref - fused).abs().max()) < 1e-8 * scale
    # float32: within rounding
    ref, fused = _both(model.float(), x.float(), t.float(), graph)
    assert float((ref - fused).abs().max()) < 1e-5 * scale


def test_training_keeps_the_reference_path(batch):
    """With autograd on (training) the reference layers run: bit-identical to fused_inference=False."""
    graph, x, t = batch
    torch.manual_seed(0)
    model = build_denoiser(ModelSpec(size="custom", net=NETS["tiny-l2-tensors"])).double()
    with torch.no_grad():
        model.net.fused_inference = False
        ref = model(x, t, graph)
    model.net.fused_inference = True
    out = model(x, t, graph)
    assert out.requires_grad and torch.equal(out.detach(), ref)
    assert all(layer._fused is None for layer in model.net.layers)


def test_fused_follows_weight_updates(batch):
    """lin_out's weights are read through a cache keyed on their version: an in-place update is seen."""
    graph, x, t = batch
    torch.manual_seed(0)
    model = build_denoiser(ModelSpec(size="custom", net=NETS["tiny"])).double().eval()
    before, _ = _both(model, x, t, graph)
    with torch.no_grad():
        for layer in model.net.layers:
            layer.lin_out.weight.mul_(1.5)
    ref, fused = _both(model, x, t, graph)
    assert float((ref - before).abs().max()) > 1e-3
    assert float((ref - fused).abs().max()) < 1e-8 * float(ref.abs().max())


def test_mlp_t_is_the_transposed_mlp():
    torch.manual_seed(0)
    mlp = MLP([7, 5, 11]).double()
    x = torch.randn(13, 7, dtype=torch.float64)
    assert torch.allclose(mlp_t(mlp, x), mlp(x).t(), atol=1e-12)


def test_fused_message_rejects_shared_weights():
    from e3nn import o3

    tp = o3.TensorProduct("2x0e", "1x0e", "2x0e", [(0, 0, 0, "uvu", True)], shared_weights=True)
    with pytest.raises(ValueError, match="per-edge weights"):
        FusedMessage(tp, o3.Linear("2x0e", "2x0e"))


@pytest.mark.parametrize("fc_max_atoms", [64, 6])
def test_pairs_are_reused_only_when_they_do_not_depend_on_positions(batch, fc_max_atoms):
    """A sampler calls the net many times with one graph: fully connected pairs are kept, cutoff pairs are not."""
    graph, x, t = batch
    torch.manual_seed(0)
    spec = ModelSpec(size="custom", net=NETS["tiny"].model_copy(update={"fc_max_atoms": fc_max_atoms, "cutoff": 3.0}))
    model = build_denoiser(spec).double().eval()
    x2 = 1.7 * x.flip(0)  # other geometry: other cutoff neighbourhoods
    with torch.no_grad():
        model(x, t, graph)
        assert (model.net._pair_cache is not None) == (fc_max_atoms == 64)
        fused = model(x2, t, graph)
        model.net.fused_inference = False
        ref = model(x2, t, graph)
    assert float((ref - fused).abs().max()) < 1e-8 * float(ref.abs().max())
    other = Batch.from_data_list([featurize(_mol("CCO"))])  # a new graph object is never served from the cache
    with torch.no_grad():
        model.net.fused_inference = True
        y = torch.tensor(_mol("CCO").GetConformer().GetPositions())
        out = model(y, t[:1], other)
        model.net.fused_inference = False
        assert float((model(y, t[:1], other) - out).abs().max()) < 1e-10
