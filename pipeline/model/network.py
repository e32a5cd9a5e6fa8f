"""The raw equivariant network ``F(x, log-SNR, graph) -> per-atom vector`` (O(3)-equivariant).

Inputs per atom: invariant features (``graph.x``) and the time embedding as even scalars, the
chirality as one odd scalar (``0o``). Edge scalars: radial basis of the distance, the distance itself (/r_max, capped at 2) + one-hot graph
hops, bond class and E/Z (cis/trans) class. Directions enter through spherical harmonics.
The output is one ``1o`` vector per atom (the preconditioning wrapper turns it into x̂₀).
"""

from __future__ import annotations

import weakref

import torch
from e3nn import o3
from torch import nn

from pipeline.model.fused import EdgePairs
from pipeline.model.graph import build_edges, molecule_ptr
from pipeline.model.layers import MLP, Interaction, RadialBasis, TimeEmbedding, hidden_irreps
from pipeline.model.spec import NetConfig

__all__ = ["EquivariantNet"]


class EquivariantNet(nn.Module):
    # without autograd (sampling, evaluation) use the fused pair path (pipeline.model.fused); False = reference code
    fused_inference: bool = True

    def __init__(self, cfg: NetConfig, node_dim: int, pair_dims: tuple[int, int, int]):
        super().__init__()
        self.cfg = cfg
        self.pair_dims = tuple(int(d) for d in pair_dims)
        self.time = TimeEmbedding(cfg.time_dim)
        self.node_embed = MLP([node_dim + self.time.dim, cfg.scalars, cfg.scalars])
        self.radial = RadialBasis(cfg.num_basis, cfg.r_max)
        self.irreps_sh = o3.Irreps.spherical_harmonics(cfg.lmax)
        self.sh = o3.SphericalHarmonics(self.irreps_sh, normalize=True, normalization="component")
        edge_dim = cfg.num_basis + 1 + sum(self.pair_dims)
        hidden = hidden_irreps(cfg.scalars, cfg.pseudoscalars, cfg.vectors, cfg.tensors)
        # chirality enters as pseudoscalar channels chi * Linear(scalars): 0e x 0o -> 0o (equivariant)
        self.chi_embed = nn.Linear(cfg.scalars, cfg.pseudoscalars)
        irreps = o3.Irreps(f"{cfg.scalars}x0e+{cfg.pseudoscalars}x0o")
        layers = []
        for _ in range(cfg.num_layers):
            layers.append(Interaction(irreps, hidden, self.irreps_sh, edge_dim, cfg.edge_hidden))
            irreps = hidden
        self.layers = nn.ModuleList(layers)
        self.out = o3.Linear(hidden, o3.Irreps("1x1o"))
        self._pair_cache: tuple | None = None  # (weakref to graph, key, pairs): see _pairs

    def pair_features(self, graph, pair_index: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """One-hot graph hops, bond class and E/Z class of each edge (depend on the graph only)."""
        nh, nb, ns = self.pair_dims
        return torch.cat(
            [
                nn.functional.one_hot(graph.pair_hops[pair_index].clamp(max=nh - 1), nh).to(dtype),
                nn.functional.one_hot(graph.pair_bond[pair_index].clamp(max=nb - 1), nb).to(dtype),
                nn.functional.one_hot(graph.pair_stereo[pair_index].clamp(max=ns - 1), ns).to(dtype),
            ],
            dim=-1,
        )

    def edge_scalars(self, length: torch.Tensor, graph, pair_index: torch.Tensor, pair_feats: torch.Tensor | None = None) -> torch.Tensor:
        if pair_feats is None:
            pair_feats = self.pair_features(graph, pair_index, length.dtype)
        radial = [self.radial(length), (length / self.cfg.r_max).clamp(max=2.0).unsqueeze(-1)]
        return torch.cat(radial + [pair_feats], dim=-1)

    def _pairs(self, pos: torch.Tensor, graph, ptr: torch.Tensor):
        """``(a, b, pair_index, EdgePairs, pair_features)`` of the unordered pairs (a < b) of the symmetric edge set.

        When every molecule is fully connected the pairs do not depend on ``pos``: they are kept for the
        next call with the same graph object (a sampler calls the network ~100 times per batch; the graph
        must not be modified in place between calls).
        """
        key = (pos.dtype, pos.device, pos.shape[0])
        cached = self._pair_cache
        if cached is not None and cached[0]() is graph and cached[1] == key:
            return cached[2]
        src, dst, pidx = build_edges(pos, ptr, graph.pair_bond, self.cfg.fc_max_atoms, self.cfg.cutoff)
        keep = src < dst
        src, dst, pidx = src[keep], dst[keep], pidx[keep]
        out = (src, dst, pidx, EdgePairs.from_pairs(src, dst, pos.shape[0], pos.dtype), self.pair_features(graph, pidx, pos.dtype))
        fully_connected = int((ptr[1:] - ptr[:-1]).max()) <= self.cfg.fc_max_atoms
        self._pair_cache = (weakref.ref(graph), key, out) if fully_connected else None
        return out

    def forward(self, pos: torch.Tensor, log_snr: torch.Tensor, graph) -> torch.Tensor:
        """``pos`` [A,3], ``log_snr`` [M] per molecule, ``graph`` a PyG Batch -> [A,3] (not centred)."""
        batch = graph.batch
        num_graphs = int(log_snr.shape[0])
        ptr = molecule_ptr(batch, num_graphs)
        if self.fused_inference and not torch.is_grad_enabled():
            # the edge set is symmetric: one (a < b) per pair, both directions evaluated together
            src, dst, pidx, pairs, pair_feats = self._pairs(pos, graph, ptr)
        else:
            src, dst, pidx = build_edges(pos, ptr, graph.pair_bond, self.cfg.fc_max_atoms, self.cfg.cutoff)
            pairs, pair_feats = None, None
        vec = pos[dst] - pos[src]
        length = vec.norm(dim=-1)
        sh = self.sh(vec)
        e = self.edge_scalars(length, graph, pidx, pair_feats)
        t = self.time(log_snr)[batch]
        scalars = self.node_embed(torch.cat([graph.x.to(pos.dtype), t], dim=-1))
        chi = graph.chirality.to(pos.dtype).unsqueeze(-1)
        h = torch.cat([scalars, chi * self.chi_embed(scalars)], dim=-1)
        for layer in self.layers:
            h = layer(h, src, dst, sh, e) if pairs is None else layer.forward_pairs(h, pairs, sh, e)
        return self.out(h)
