"""Building blocks of the e3nn denoiser: time embedding, radial basis, equivariant interaction.

Plain torch ops only (``index_add_`` for message aggregation): no torch-scatter / torch-cluster.
"""

from __future__ import annotations

import math

import torch
from e3nn import o3
from e3nn.math import soft_one_hot_linspace
from e3nn.nn import Gate
from torch import nn

from pipeline.model.blocks import MLP, TimeEmbedding, scatter_mean
from pipeline.model.fused import EdgePairs, FusedMessage, mlp_t

__all__ = ["TimeEmbedding", "RadialBasis", "MLP", "Interaction", "scatter_mean", "hidden_irreps"]


class RadialBasis(nn.Module):
    """Gaussian basis of interatomic distances on [0, r_max] (no hard cutoff: fully connected graphs)."""

    def __init__(self, num_basis: int, r_max: float):
        super().__init__()
        self.num_basis = num_basis
        self.r_max = r_max

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return soft_one_hot_linspace(r, 0.0, self.r_max, self.num_basis, basis="gaussian", cutoff=False) / math.sqrt(self.num_basis)


def hidden_irreps(scalars: int, pseudoscalars: int, vectors: int, tensors: int) -> o3.Irreps:
    """Hidden features with both parities so a pseudoscalar input can steer vector outputs."""
    parts = [f"{scalars}x0e", f"{pseudoscalars}x0o", f"{vectors}x1o", f"{vectors}x1e"]
    if tensors:
        parts += [f"{tensors}x2e", f"{tensors}x2o"]
    return o3.Irreps("+".join(parts))


class Interaction(nn.Module):
    """One equivariant message-passing layer (NequIP-style).

    message_ij = TP_uvu(h_j, Y(r̂_ij); w = MLP(edge scalars)); h_i' = Gate(Lin(mean_j message_ij) + Lin_self(h_i)),
    plus a residual connection when input and output irreps agree.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, irreps_sh: o3.Irreps, edge_dim: int, edge_hidden: int):
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_out = o3.Irreps(irreps_out)
        scalars = o3.Irreps([(m, ir) for m, ir in self.irreps_out if ir.l == 0])
        gated = o3.Irreps([(m, ir) for m, ir in self.irreps_out if ir.l > 0])
        acts = [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars]
        self.gate = Gate(scalars, acts, o3.Irreps(f"{gated.num_irreps}x0e"), [torch.sigmoid], gated)
        wanted = {ir for _, ir in self.gate.irreps_in}

        mid, instructions = [], []
        for i, (mul, ir_in) in enumerate(self.irreps_in):
            for j, (_, ir_sh) in enumerate(irreps_sh):
                for ir_out in ir_in * ir_sh:
                    if ir_out in wanted:
                        instructions.append((i, j, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        irreps_mid, perm, _ = o3.Irreps(mid).sort()
        instructions = [(i, j, perm[k], mode, train) for i, j, k, mode, train in instructions]
        self.lin_in = o3.Linear(self.irreps_in, self.irreps_in)
        self.tp = o3.TensorProduct(
            self.irreps_in, irreps_sh, irreps_mid, instructions, shared_weights=False, internal_weights=False
        )
        self.edge_mlp = MLP([edge_dim, edge_hidden, self.tp.weight_numel])
        self.lin_out = o3.Linear(irreps_mid, self.gate.irreps_in)
        self.lin_self = o3.Linear(self.irreps_in, self.gate.irreps_in)
        self.residual = self.irreps_in == self.irreps_out

        self._fused: FusedMessage | None = None  # built on first use of forward_pairs (holds no parameters)

    def forward(self, h: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, sh: torch.Tensor, edge_scalars: torch.Tensor) -> torch.Tensor:
        hj = self.lin_in(h)[src]
        msg = self.tp(hj, sh, self.edge_mlp(edge_scalars))
        agg = scatter_mean(msg, dst, h.shape[0])
        return self._update(h, self.lin_out(agg))

    def forward_pairs(self, h: torch.Tensor, pairs: EdgePairs, sh: torch.Tensor, edge_scalars: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`forward` for a symmetric edge set given as unordered pairs (``sh``/``edge_scalars``
        of the ``a -> b`` direction), evaluated with :class:`~pipeline.model.fused.FusedMessage`; no autograd."""
        if self._fused is None:
            self._fused = FusedMessage(self.tp, self.lin_out)
        return self._update(h, self._fused(self.lin_in(h), pairs, sh, mlp_t(self.edge_mlp, edge_scalars)))

    def _update(self, h: torch.Tensor, agg: torch.Tensor) -> torch.Tensor:
        out = self.gate(agg + self.lin_self(h))
        return out + h if self.residual else out
