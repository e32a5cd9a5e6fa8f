"""Edges (fully connected / cutoff + bonds), preconditioning identities, save/load round trips."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("rdkit")
from rdkit import Chem  # noqa: E402
from rdkit.Chem import AllChem  # noqa: E402
from torch_geometric.data import Batch  # noqa: E402

from pipeline.diffusion import get_schedule  # noqa: E402
from pipeline.model import io  # noqa: E402
from pipeline.model.features import featurize  # noqa: E402
from pipeline.model.graph import build_edges  # noqa: E402
from pipeline.model.precond import build_denoiser, precond_coefficients  # noqa: E402
from pipeline.model.spec import ModelSpec, net_preset  # noqa: E402


def _mols(smiles):
    out = []
    for s in smiles:
        m = Chem.AddHs(Chem.MolFromSmiles(s))
        AllChem.EmbedMolecule(m, randomSeed=1)
        out.append(m)
    return out


@pytest.fixture(scope="module")
def batch():
    mols = _mols(["CCO", "CCCCCCCCO"])
    g = Batch.from_data_list([featurize(m) for m in mols])
    x = torch.cat([torch.tensor(m.GetConformer().GetPositions(), dtype=torch.float32) for m in mols])
    return mols, g, x


def test_fully_connected_edges(batch):
    _, g, x = batch
    src, dst, pidx = build_edges(x, g.ptr, g.pair_bond, fc_max_atoms=100, cutoff=1.0)
    n = (g.ptr[1:] - g.ptr[:-1]).tolist()
    assert src.numel() == sum(k * (k - 1) for k in n)
    assert torch.equal(g.batch[src], g.batch[dst]) and not bool((src == dst).any())
    # pair index points at the (dst, src) entry of the molecule's dense pair matrix
    m = g.batch[dst]
    local_a, local_b = dst - g.ptr[m], src - g.ptr[m]
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(torch.tensor(n) ** 2, 0)])
    assert torch.equal(pidx, offsets[m] + local_a * torch.tensor(n)[m] + local_b)


def test_cutoff_edges_keep_bonds_and_near_pairs_only(batch):
    _, g, x = batch
    cutoff = 2.0
    src, dst, pidx = build_edges(x, g.ptr, g.pair_bond, fc_max_atoms=10, cutoff=cutoff)
    big = g.batch[dst] == 1  # octanol (>10 atoms) uses the cutoff graph, ethanol (9 atoms) stays complete
    d = (x[src] - x[dst]).norm(dim=-1)
    assert bool(((d < cutoff) | (g.pair_bond[pidx] > 0))[big].all())
    bonded = int((g.pair_bond.reshape(-1) > 0).sum())
    assert int((g.pair_bond[pidx] > 0).sum()) == bonded  # every bond (both directions) kept
    n_small = int(g.ptr[1])
    assert int((~big).sum()) == n_small * (n_small - 1)
    all_big = (g.ptr[2] - g.ptr[1]) ** 2 - (g.ptr[2] - g.ptr[1])
    assert int(big.sum()) < int(all_big)


@pytest.mark.parametrize("s", [1.0, 0.7])
def test_precond_coefficients_are_the_gaussian_posterior(s):
    sched = get_schedule("cosine")
    t = torch.linspace(0.01, 0.99, 25, dtype=torch.float64)
    a, sig = sched.alpha(t), sched.sigma(t)
    c_skip, c_out, c_in = precond_coefficients(a, sig, s)
    var = a**2 * s**2 + sig**2
    # E[x0 x_tᵀ] = a s² Σ, Var(x_t) = var Σ  =>  posterior mean coefficient a s²/var
    assert torch.allclose(c_skip, a * s**2 / var)
    assert torch.allclose(c_in**2 * var, torch.ones_like(t))  # unit-scale input
    resid = s**2 - 2 * c_skip * a * s**2 + c_skip**2 * var  # Var(x0 - c_skip x_t) in Σ units
    assert torch.allclose(resid, c_out**2)  # unit-scale target
    if s == 1.0:
        assert torch.allclose(c_skip, a) and torch.allclose(c_out, sig)


def test_save_and_load_round_trip(tmp_path, batch):
    _, g, x = batch
    spec = ModelSpec(net=net_preset("tiny"))
    torch.manual_seed(0)
    model = build_denoiser(spec).eval()
    t = torch.tensor([0.3, 0.6])
    with torch.no_grad():
        ref = model(x, t, g)
    d = io.save_model(tmp_path / "m", model, spec)
    loaded, spec2 = io.load_denoiser(d)
    assert spec2 == spec
    with torch.no_grad():
        assert torch.equal(loaded(x, t, g), ref)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp dirs left behind


def test_load_none_without_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(io, "SHIPPED_MODEL_DIR", tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="bondiff train"):
        io.load_denoiser(None)
    assert not (tmp_path / "mlflow.db").exists()  # looking must not create a store
    with pytest.raises(FileNotFoundError, match="not a model dir"):
        io.load_denoiser(tmp_path / "missing")


def test_load_none_falls_back_to_shipped_model(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    spec = ModelSpec(net=net_preset("tiny"))
    io.save_model(tmp_path / "shipped", build_denoiser(spec), spec)
    monkeypatch.setattr(io, "SHIPPED_MODEL_DIR", tmp_path / "shipped")
    _, spec2 = io.load_denoiser(None)
    assert spec2 == spec


@pytest.mark.parametrize("kind", ["pairnet"])
def test_activations_stay_bounded_on_molecules_unlike_the_training_ones(kind):
    """Tiny molecules (H2, water, methane) next to a drug-like one, with every weight scaled up 3x (a trained
    network's gains): the output stays finite and of the same order for all of them. Without normalised
    layers the per-layer gains multiply and water's output grows geometrically from layer to layer."""
    torch.manual_seed(0)
    spec = ModelSpec(size="custom", net=net_preset("base", kind=kind))
    net = build_denoiser(spec).net.double()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)
    smiles = ["[H][H]", "O", "C", "CC(C)Cc1ccc(cc1)[C@H](C)C(=O)O"]
    out = {}
    for smi in smiles:
        mol = Chem.AddHs(Chem.MolFromSmiles(smi))
        AllChem.EmbedMolecule(mol, randomSeed=1)
        graph = Batch.from_data_list([featurize(mol, spec.features)])
        x = torch.tensor(mol.GetConformer().GetPositions())
        with torch.no_grad():
            out[smi] = net(x, torch.zeros(1, dtype=torch.float64), graph).abs().max().item()
    big = out[smiles[-1]]
    assert all(torch.isfinite(torch.tensor(v)) for v in out.values())
    assert all(v < 100 * big for v in out.values()), out


def test_pairnet_cpu_chunks_match_the_whole_batch():
    """CPU inference runs the geometry layers on chunks of molecules (``cpu_pair_chunk`` padded pairs); the
    output is the whole batch's, molecule by molecule, whatever the chunk size (and so with autograd on)."""
    torch.manual_seed(0)
    spec = ModelSpec(size="custom", net=net_preset("base", kind="pairnet"))
    net = build_denoiser(spec).net.double()
    mols = _mols(["CC(C)Cc1ccc(cc1)[C@H](C)C(=O)O", "O", "CCO", "c1ccccc1N", "C[C@H](N)C(=O)O"])
    graph = Batch.from_data_list([featurize(m, spec.features) for m in mols])
    x = torch.cat([torch.tensor(m.GetConformer().GetPositions()) for m in mols])
    log_snr = torch.linspace(-2.0, 4.0, len(mols), dtype=torch.float64)
    with torch.no_grad():
        net.cpu_pair_chunk = 0
        whole = net(x, log_snr, graph)
        nmax = max(m.GetNumAtoms() for m in mols)
        for per_chunk in (1, 2, 3):
            net.cpu_pair_chunk = per_chunk * nmax * nmax
            assert torch.allclose(net(x, log_snr, graph), whole, atol=1e-10)
    net.cpu_pair_chunk = nmax * nmax
    assert torch.allclose(net(x, log_snr, graph), whole, atol=1e-10)  # with autograd: one chunk, the same


def test_radial_gaussians_have_no_subnormal_values():
    """Far tails of the radial Gaussians are 0, not subnormal floats (slow CPU arithmetic); above the floor
    they are the Gaussians."""
    from pipeline.model.pairnet import _gaussians

    r = torch.linspace(0.0, 30.0, 2001)
    g = _gaussians(r, 0.0, 10.0, 16)
    tiny = torch.finfo(torch.float32).tiny
    assert not bool(((g > 0) & (g < tiny)).any())
    centres = torch.linspace(0.0, 10.0, 16)
    exact = torch.exp(-0.5 * ((r[:, None] - centres) / (10.0 / 15)) ** 2)
    assert bool((exact[g == 0] < 1e-20).all()) and bool(((exact < tiny) & (exact > 0)).any())  # the case occurs
    assert torch.allclose(g, exact, atol=1e-20)
