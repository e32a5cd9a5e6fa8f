r"""The dense pair network (``kind: pairnet``): ``F(x, log-SNR, graph) -> per-atom vector``, E(3)-equivariant.

Built for cost: the network is evaluated ~10-100 times per conformer, so whatever depends only on the
2D graph is computed once per molecule and reused by every step and every conformer.

* :class:`GraphEncoder` (once per molecule; cached across calls with the same graph object when no
  gradient is needed): atom embeddings from the node features (element, charge, hybridisation,
  aromaticity, rings, degree, H count, "is a stereocentre"), pair embeddings from graph hops, bond
  class, E/Z class and RDKit's distance-geometry bounds of every pair (so the 1-2 / 1-3 / 1-4 target
  distances are inputs), and from them the per-layer pair biases of the geometry filters. It also
  ranks each stereocentre's neighbours canonically (for the chirality terms below).
* :class:`PairNet` geometry layers (per step), PaiNN-style on dense per-molecule tensors
  ``[M, Nmax, Nmax, ·]`` (fully connected, padded): scalar channels ``s`` and vector channels ``v``
  (l ≤ 1). The filter of pair (i, j) is ``W_l = SiLU(rbf(r_ij, dev_ij) A_l + E_l,ij) B_l`` with
  ``E_l`` from the encoder and ``dev_ij = (r_ij − mid_ij)/half-width_ij`` the distance relative to the
  DG bounds (pairs within 3 bonds); messages ``Δs_i = ⟨a_ij⟩_j``, ``Δv_i = ⟨b_ij v_j + c_ij r̂_ij⟩_j``
  with ``(a, b, c) = W_l ⊙ φ_l(s_j)``, then PaiNN's gated update; pre-norm residual layers (layer-normalised
  scalars, RMS-normalised vectors) keep activations bounded on molecules unlike the training ones.
* **Chirality** (the network must not be reflection-symmetric): for each specified tetrahedral centre
  the signed volume ``V`` of its neighbours in canonical order (the quantity whose target sign is the
  pseudoscalar input ``χ``, :mod:`pipeline.model.features`) and its gradient with respect to each atom
  involved are computed from the current positions. ``χ V`` is a true scalar (positive when the
  handedness is right) and ``χ ∂V/∂p`` are true (polar) vectors: the cross products of the neighbour
  bonds, turned polar by the pseudoscalar. They enter as one scalar input per centre and one vector input
  per atom, so reflecting the geometry alone changes the output, reflecting it together with ``χ`` mirrors it.

Everything is plain torch (matmul / einsum / elementwise) in float32 or float64.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from pipeline.model.blocks import MLP, TimeEmbedding
from pipeline.model.dense import DenseLayout

if TYPE_CHECKING:  # pydantic: any object with these fields works (the GPU job passes a plain view)
    from pipeline.model.spec import PairNetConfig

__all__ = ["PairNet", "GraphEncoder", "Encoded", "chiral_terms", "CPU_PAIR_CHUNK"]

_TIGHT_HOPS = 3  # pairs within this many bonds get the distance-vs-bounds features
_BOUND_RBF = 10  # Gaussians of the DG-bounds midpoint on [0, 10] Å in the encoder
# padded pairs per chunk of molecules in CPU inference (PairNet.cpu_pair_chunk): the per-step pair tensors are
# memory-bound; on one core of the development box a [48, 60, 60] filter GEMM costs ~35 ns per pair up to
# ~70k pairs and ~125 ns beyond ~300k (out of cache), and a 4,096-atom sampling batch of drug-like molecules has ~250k
CPU_PAIR_CHUNK = 1 << 16
_GAUSS_FLOOR = 1e-20  # radial Gaussians below this are 0 (see _gaussians)


def _gaussians(x: torch.Tensor, lo: float, hi: float, num: int, dim: int = -1) -> torch.Tensor:
    """``num`` Gaussians with centres on [lo, hi] and width = spacing, stacked along a new axis ``dim``
    (``-1``: ``[...] -> [..., num]``; ``1``: ``[M, ...] -> [M, num, ...]``)."""
    width = (hi - lo) / max(num - 1, 1)
    shape = [1] * (x.dim() + 1)
    shape[dim] = num
    centres = torch.linspace(lo, hi, num, dtype=x.dtype, device=x.device).view(shape)
    g = torch.exp(-0.5 * ((x.unsqueeze(dim) - centres) / width) ** 2)
    # values below _GAUSS_FLOOR are set to 0: the far tails are subnormal floats (below 1.2e-38 in float32),
    # and arithmetic on subnormals is ~50x slower on x86 CPUs (the filter GEMM of a sampling step took 5x longer)
    return nn.functional.threshold(g, _GAUSS_FLOOR, 0.0, inplace=not torch.is_grad_enabled())  # exp saves g for autograd


@dataclass
class Encoded:
    """What the graph encoder computes once per molecule (dense layout)."""

    layout: DenseLayout
    h0: torch.Tensor  # [M, N, C] atom embeddings
    filter_bias: torch.Tensor  # [M, L*H, N, N] per-layer pair biases of the geometry filters (channel-first)
    mid: torch.Tensor  # [M, N, N] DG-bounds midpoint (Å)
    inv_half: torch.Tensor  # [M, N, N] 1 / (half-width + 0.1 Å); 0 for pairs beyond _TIGHT_HOPS
    chi: torch.Tensor  # [M, N] chirality pseudoscalar (0 for non-centres)
    nbr: torch.Tensor  # [M, N, 4] long, canonically ranked neighbours (padding 0)
    has4: torch.Tensor  # [M, N] bool, 4 neighbours (else 3: the centre takes the 4th place)

    def rows(self, a: int, b: int) -> "Encoded":
        """Molecules ``a:b`` of every per-molecule tensor (views; ``layout`` stays the whole batch's)."""
        return Encoded(self.layout, self.h0[a:b], self.filter_bias[a:b], self.mid[a:b], self.inv_half[a:b],
                       self.chi[a:b], self.nbr[a:b], self.has4[a:b])


class GraphEncoder(nn.Module):
    def __init__(self, cfg: PairNetConfig, node_dim: int, pair_dims: tuple[int, int, int]):
        super().__init__()
        self.pair_dims = tuple(int(d) for d in pair_dims)
        c, p = cfg.channels, cfg.pair_dim
        self.num_layers, self.hidden = cfg.num_layers, cfg.filter_hidden
        self.node_mlp = MLP([node_dim + 1, c, c])
        self.pair_mlp = MLP([sum(self.pair_dims) + _BOUND_RBF + 3, p, p])
        self.pair_from_nodes = nn.Linear(c, 2 * p, bias=False)
        self.filter_bias = nn.Sequential(nn.SiLU(), nn.Linear(p, cfg.num_layers * cfg.filter_hidden))

    def forward(self, graph, layout: DenseLayout, dtype: torch.dtype) -> Encoded:
        if getattr(graph, "pair_lower", None) is None:
            raise ValueError("the pairnet network needs the distance-geometry bounds: featurize(mol, spec.features) (dg_bounds on)")
        chi_flat = graph.chirality.to(dtype)
        x = torch.cat([graph.x.to(dtype), chi_flat.abs().unsqueeze(-1)], dim=-1)
        h0 = layout.to_dense(self.node_mlp(x))  # [M, N, C]

        nh, nb, ns = self.pair_dims
        hops = layout.pairs(graph.pair_hops)
        bond = layout.pairs(graph.pair_bond)
        lower = layout.pairs(graph.pair_lower.to(dtype))
        upper = layout.pairs(graph.pair_upper.to(dtype))
        mid, half = 0.5 * (lower + upper), 0.5 * (upper - lower)
        onehots = [
            nn.functional.one_hot(hops.clamp(max=nh - 1), nh),
            nn.functional.one_hot(bond.clamp(max=nb - 1), nb),
            nn.functional.one_hot(layout.pairs(graph.pair_stereo).clamp(max=ns - 1), ns),
        ]
        bound_feats = [
            _gaussians(mid.clamp(max=12.0), 0.0, 10.0, _BOUND_RBF),
            torch.exp(-half).unsqueeze(-1),
            (half / 5.0).clamp(max=2.0).unsqueeze(-1),
            (mid / 10.0).clamp(max=2.0).unsqueeze(-1),
        ]
        pair_in = torch.cat([o.to(dtype) for o in onehots] + bound_feats, dim=-1)
        hi, hj = self.pair_from_nodes(h0).chunk(2, dim=-1)
        e0 = self.pair_mlp(pair_in) + hi[:, :, None, :] + hj[:, None, :, :]
        m, n = layout.num_molecules, layout.nmax
        fbias = self.filter_bias(e0).permute(0, 3, 1, 2).contiguous()  # channel-first: per-layer slabs are contiguous

        tight = (hops >= 1) & (hops <= _TIGHT_HOPS) & layout.pair_mask
        inv_half = torch.where(tight, 1.0 / (half + 0.1), torch.zeros_like(half))

        chi = layout.to_dense(chi_flat)
        rank = layout.to_dense(graph.canonical_rank)
        bonded = (bond > 0) & layout.pair_mask
        big = int(rank.max()) + 1 if rank.numel() else 1
        key = torch.where(bonded, rank[:, None, :], torch.full_like(bond, big))
        order = torch.argsort(key, dim=-1, stable=True)[..., :4]  # fewer than 4 columns when N < 4: padded below
        if order.shape[-1] < 4:
            order = torch.cat([order, order.new_zeros(order.shape[:-1] + (4 - order.shape[-1],))], dim=-1)
        degree = bonded.sum(-1)
        chi = torch.where((degree == 3) | (degree == 4), chi, torch.zeros_like(chi))
        return Encoded(layout, h0, fbias, mid, inv_half, chi, order, degree == 4)


def chiral_terms(pos: torch.Tensor, enc: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
    """``(χ V / (|V| + 1) [M, N], Σ_centres χ ∂V/∂p [M, N, 3])`` for dense positions ``pos`` [M, N, 3].

    V is the signed volume of :func:`pipeline.model.features.signed_volumes`: with four neighbours
    ``det[p1 − p0, p2 − p0, p3 − p0]``, with three ``det[p0 − c, p1 − c, p2 − c]``.
    """
    m, n, _ = pos.shape
    idx = enc.nbr.reshape(m, n * 4, 1).expand(-1, -1, 3)
    p = torch.gather(pos, 1, idx).view(m, n, 4, 3)
    has4 = enc.has4.unsqueeze(-1)
    base = torch.where(has4, p[:, :, 0], pos)
    q1 = torch.where(has4, p[:, :, 1], p[:, :, 0]) - base
    q2 = torch.where(has4, p[:, :, 2], p[:, :, 1]) - base
    q3 = torch.where(has4, p[:, :, 3], p[:, :, 2]) - base
    g1, g2, g3 = torch.cross(q2, q3, dim=-1), torch.cross(q3, q1, dim=-1), torch.cross(q1, q2, dim=-1)
    vol = (q1 * g1).sum(-1)
    chi = enc.chi
    s_chi = chi * vol / (vol.abs() + 1.0)
    w = chi.unsqueeze(-1) / 4.0  # Å² -> O(1)
    grads = torch.stack([-(g1 + g2 + g3), g1, g2, g3], dim=2) * w.unsqueeze(-1)  # [M, N, 4, 3]
    centre = torch.arange(n, device=pos.device).view(1, n).expand(m, n)
    targets = torch.stack(
        [
            torch.where(enc.has4, enc.nbr[:, :, 0], centre),
            torch.where(enc.has4, enc.nbr[:, :, 1], enc.nbr[:, :, 0]),
            torch.where(enc.has4, enc.nbr[:, :, 2], enc.nbr[:, :, 1]),
            torch.where(enc.has4, enc.nbr[:, :, 3], enc.nbr[:, :, 2]),
        ],
        dim=2,
    )  # [M, N, 4]
    u = pos.new_zeros(m, n, 3).scatter_add_(1, targets.reshape(m, n * 4, 1).expand(-1, -1, 3), grads.reshape(m, n * 4, 3))
    return s_chi, u


def _vector_norm(v: torch.Tensor, eps: float = 1e-2) -> torch.Tensor:
    """``v`` [M, N, 3, C] divided by ``sqrt(eps + mean over channels of |v_c|²)``, per atom.

    An invariant rescaling (so equivariant): vectors of RMS length ≳ 1 come out of length ≈ 1, small ones
    are not blown up (``eps``), zero stays zero.
    """
    return v * torch.rsqrt(v.pow(2).sum(2, keepdim=True).mean(3, keepdim=True) + eps)


class _GeometryLayer(nn.Module):
    """One PaiNN-style message + update step on dense tensors; ``s`` [M, N, C], ``v`` [M, N, 3, C].

    The filter is multi-head: pair (i, j) carries ``3 × heads`` scalar weights ``S`` (for the scalar,
    vector-from-vector and vector-from-direction messages), each shared by ``C / heads`` channels, so every
    message is a batched matmul over the neighbour index (``[N, N] @ [N, ·]`` per molecule and head) and no
    ``[M, N, N, C]`` tensor is ever formed.
    """

    def __init__(self, channels: int, heads: int, time_dim: int):
        super().__init__()
        c = channels
        self.heads = heads
        self.time = nn.Linear(time_dim, c)
        self.phi = MLP([c, c, 3 * c])
        self.U = nn.Linear(c, c, bias=False)
        self.V = nn.Linear(c, c, bias=False)
        self.update = MLP([2 * c, c, 3 * c])
        self.norm_s = nn.LayerNorm(c)
        self.norm_u = nn.LayerNorm(c)

    def forward(self, s, v, temb, weights, x, inv_r, inv_deg):
        """``weights``: three [M, H, N, N] (0 on padded pairs and the diagonal), ``x`` [M, N, 3], ``inv_r`` [M, N, N].

        Pre-norm residual layer: messages and updates read layer-normalised scalars and RMS-normalised
        vectors (:func:`_vector_norm`, an invariant rescaling, so equivariance holds), and add to the
        unnormalised streams. Each layer's increment is then bounded whatever the inputs' scale, so a
        molecule unlike the training ones (water, H2, a very large one) cannot make the activations
        grow geometrically from layer to layer.
        """
        m, n, c = s.shape
        h = self.heads
        k = c // h
        s = s + self.time(temb)[:, None, :]
        pa, pb, pc = self.phi(self.norm_s(s)).split(c, dim=-1)
        heads_first = lambda t: t.view(m, n, h, -1).transpose(1, 2)  # [M, N, C] -> [M, H, N, k]  # noqa: E731
        ds = torch.matmul(weights[0], heads_first(pa))  # Σ_j S_ij pa_j
        vb = (pb.unsqueeze(2) * _vector_norm(v)).view(m, n, 3, h, k).permute(0, 3, 1, 2, 4).reshape(m, h, n, 3 * k)
        dvb = torch.matmul(weights[1], vb).view(m, h, n, 3, k)  # Σ_j S_ij pb_j v_j
        # Σ_j S_ij pc_j r̂_ij = Σ_j (S_ij / r_ij) pc_j x_j − x_i Σ_j (S_ij / r_ij) pc_j
        pcx = heads_first(pc).unsqueeze(-1)  # [M, H, N, k, 1]
        feat = torch.cat([pcx * x[:, None, :, None, :], pcx], dim=-1).view(m, h, n, 4 * k)
        agg = torch.matmul(weights[2] * inv_r[:, None], feat).view(m, h, n, k, 4)
        dvc = (agg[..., :3] - agg[..., 3:] * x[:, None, :, None, :]).transpose(-1, -2)  # [M, H, N, 3, k]
        s = s + ds.transpose(1, 2).reshape(m, n, c) * inv_deg
        v = v + (dvb + dvc).permute(0, 2, 3, 1, 4).reshape(m, n, 3, c) * inv_deg.unsqueeze(-1)
        vn = _vector_norm(v)
        uv, vv = self.U(vn), self.V(vn)
        vnorm = torch.sqrt(vv.pow(2).sum(2) + 1e-8)
        a_vv, a_sv, a_ss = self.update(torch.cat([self.norm_u(s), vnorm], dim=-1)).split(c, dim=-1)
        v = v + a_vv.unsqueeze(2) * uv
        s = s + a_sv * (uv * vv).sum(2) + a_ss
        return s, v


class PairNet(nn.Module):
    """``forward(pos [A,3], log_snr [M], graph) -> [A,3]`` (see the module docstring)."""

    def __init__(self, cfg: PairNetConfig, node_dim: int, pair_dims: tuple[int, int, int]):
        super().__init__()
        self.cfg = cfg
        c, h = cfg.channels, cfg.filter_hidden
        self.encoder = GraphEncoder(cfg, node_dim, pair_dims)
        self.time = TimeEmbedding(cfg.time_dim)
        self.s_in = nn.Linear(c + self.time.dim + 1, c)
        self.v_in = nn.Parameter(torch.randn(c) / math.sqrt(c))
        self.radial = nn.Linear(cfg.num_rbf + cfg.num_bound_rbf, cfg.num_layers * h)
        # per layer: hidden -> 3 x heads filter weights, no bias so padded pairs (hidden = 0) stay exactly 0
        self.filter_out = nn.ModuleList(nn.Linear(h, 3 * cfg.heads, bias=False) for _ in range(cfg.num_layers))
        self.layers = nn.ModuleList(_GeometryLayer(c, cfg.heads, self.time.dim) for _ in range(cfg.num_layers))
        self.out = nn.Linear(c, 1, bias=False)
        self._cache: tuple | None = None  # (weakref to graph, key, Encoded): inference only
        # inference on a CPU: the geometry layers run on chunks of molecules of at most this many padded
        # pairs (M N^2), so the [m, ·, N, N] pair tensors stay in the CPU's cache (0: the whole batch at once)
        self.cpu_pair_chunk = CPU_PAIR_CHUNK

    def encode(self, graph, num_molecules: int, dtype: torch.dtype) -> Encoded:
        """The graph encoder's output, cached for the next call with the same graph object (no autograd).

        Its filter biases also take the radial layer's bias and are zeroed on padded pairs and the
        diagonal here, once, so the per-step filter is ``SiLU(W_radial · rbf + bias)`` with no mask to apply.
        """
        key = (dtype, graph.batch.device, int(graph.batch.shape[0]), num_molecules)
        cached = self._cache
        if not torch.is_grad_enabled() and cached is not None and cached[0]() is graph and cached[1] == key:
            return cached[2]
        enc = self.encoder(graph, DenseLayout.from_batch(graph.batch, num_molecules), dtype)
        pmask = enc.layout.pair_mask.to(dtype).unsqueeze(1)
        enc.filter_bias = (enc.filter_bias + self.radial.bias.to(dtype)[None, :, None, None]) * pmask
        self._cache = None if torch.is_grad_enabled() else (weakref.ref(graph), key, enc)
        return enc

    def forward(self, pos: torch.Tensor, log_snr: torch.Tensor, graph) -> torch.Tensor:
        m = int(log_snr.shape[0])
        enc = self.encode(graph, m, pos.dtype)
        layout = enc.layout
        x = layout.to_dense(pos)  # [M, N, 3]
        temb = self.time(log_snr.to(pos.dtype))
        step = m
        if not torch.is_grad_enabled() and pos.device.type == "cpu" and self.cpu_pair_chunk:
            step = max(1, self.cpu_pair_chunk // max(layout.nmax * layout.nmax, 1))
        chunks = [(a, a + step) for a in range(0, m, step)]
        out = torch.cat([self._geometry(x[a:b], temb[a:b], enc.rows(a, b), layout.pair_mask[a:b], layout.counts[a:b]) for a, b in chunks])
        return layout.to_atoms(out)

    def _geometry(self, x: torch.Tensor, temb: torch.Tensor, enc: Encoded, pair_mask: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """The geometry layers for a run of molecules: dense positions ``x`` [m, N, 3] -> [m, N, 3]; ``enc``,
        ``pair_mask`` and ``counts`` are those molecules' rows (:meth:`Encoded.rows`)."""
        cfg = self.cfg
        m, n = x.shape[0], x.shape[1]
        pmask = pair_mask.to(x.dtype)
        r = torch.sqrt((x[:, None, :, :] - x[:, :, None, :]).pow(2).sum(-1) + (1.0 - pmask))  # 1 on diagonal/padding
        inv_r = pmask / r
        # pair tensors are channel-first [m, C, N, N]: every per-layer slab and every head is contiguous
        feats = [_gaussians(r, 0.0, cfg.r_max, cfg.num_rbf, dim=1)]
        if cfg.num_bound_rbf:
            dev = ((r - enc.mid) * enc.inv_half).clamp(-6.0, 6.0)
            feats.append(_gaussians(dev, -3.0, 3.0, cfg.num_bound_rbf, dim=1) * (enc.inv_half > 0).to(x.dtype).unsqueeze(1))
        rad = (torch.cat(feats, dim=1) * pmask.unsqueeze(1)).view(m, -1, n * n)  # 0 on padded pairs / diagonal
        # filter_bias is 0 there too (see encode), so hidden is exactly 0 on padded pairs: SiLU(0) = 0.
        # baddbmm with the weight broadcast over molecules: one GEMM per molecule, bias added inside, no layout copies
        w_rad = self.radial.weight.to(x.dtype).expand(m, -1, -1)
        hidden = torch.baddbmm(enc.filter_bias.view(m, -1, n * n), w_rad, rad)
        hidden = nn.functional.silu(hidden, inplace=not torch.is_grad_enabled())
        h = cfg.filter_hidden

        s_chi, u = chiral_terms(x, enc)
        s = self.s_in(torch.cat([enc.h0, temb[:, None, :].expand(-1, n, -1), s_chi.unsqueeze(-1)], dim=-1))
        v = u.unsqueeze(-1) * self.v_in  # [m, N, 3, C]
        inv_deg = (1.0 / (counts - 1).clamp(min=1).to(x.dtype)).view(m, 1, 1)
        for k, layer in enumerate(self.layers):
            slab = hidden[:, k * h : (k + 1) * h]  # [m, H, N*N]
            # one [m, heads, N, N] block per message type (scalar, vector-from-vector, vector-from-direction)
            weights = [torch.bmm(w.expand(m, -1, -1), slab).view(m, -1, n, n) for w in self.filter_out[k].weight.chunk(3, dim=0)]
            s, v = layer(s, v, temb, weights, x, inv_r, inv_deg)
        return self.out(v).squeeze(-1)  # [m, N, 3]
