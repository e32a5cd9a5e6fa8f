r"""Inference fast path of :class:`pipeline.model.layers.Interaction`: message, mean and output map fused.

The reference layer computes, per directed edge ``j -> i``, the e3nn tensor product
``m_ij = TP(h'_j, Y(r_ij); w_ij)`` (a ``[E, dim_mid]`` tensor: 320 numbers per edge for the shipped net), averages
the messages per atom and applies the equivariant linear map ``lin_out``. On a CPU that is memory-bound:
e3nn's eager code writes several ``[E, ·]`` intermediates per instruction. :class:`FusedMessage` computes
the same quantity as

    lin_out(mean_j m_ij) = mean_j lin_out(m_ij)            (both maps are linear; lin_out has no bias here)

with three observations that change only the order of floating-point sums:

* every instruction is ``uvu`` with one spherical harmonic per degree, so its output is
  ``w_p[u] * sum_i x1[u, i] M_p[i, k]`` with ``M_p = C_p · Y`` (``C_p`` = path weight × Wigner 3j): a few
  broadcast multiply-adds per output component, written in a ``[.., k, u]`` layout where ``u`` is contiguous;
* ``lin_out`` mixes the channels ``u`` of all paths with the same irrep and acts identically on every ``k``,
  so it is one matrix product per irrep type, applied per edge *before* the mean (the aggregated tensor
  shrinks from ``dim_mid`` to ``dim_out`` columns);
* the edge set is symmetric and ``w``, ``|r|`` and the pair features are the same for ``i -> j`` and
  ``j -> i`` while ``Y(-r) = (-1)^l Y(r)``: each unordered pair is evaluated once and feeds both
  directions (the sign goes into the ``lin_out`` rows of the reverse direction).

It is used without autograd only (sampling, evaluation); training keeps the reference code, and
``tests/unit/model/test_fused.py`` checks that both agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from e3nn import o3

__all__ = ["FusedMessage", "EdgePairs", "mlp_t"]


@dataclass(frozen=True)
class EdgePairs:
    """Unordered atom pairs ``(a, b)`` with ``a < b`` of a symmetric edge set (both directions are edges).

    ``gather`` = ``cat(a, b)`` (message sources: ``a -> b`` first, then ``b -> a``), ``scatter`` =
    ``cat(b, a)`` (their receivers), ``inv_count`` [A, 1] = 1 / in-degree (1 for isolated atoms).
    """

    gather: torch.Tensor
    scatter: torch.Tensor
    inv_count: torch.Tensor

    @classmethod
    def from_pairs(cls, a: torch.Tensor, b: torch.Tensor, num_atoms: int, dtype: torch.dtype) -> "EdgePairs":
        count = torch.bincount(a, minlength=num_atoms) + torch.bincount(b, minlength=num_atoms)
        inv = 1.0 / count.clamp(min=1).to(dtype)
        return cls(torch.cat([a, b]), torch.cat([b, a]), inv.unsqueeze(-1))

    @property
    def num_pairs(self) -> int:
        return int(self.gather.shape[0]) // 2


@dataclass(frozen=True)
class _Path:
    """One TP instruction: input block, weight slice, target irrep group, and its nonzero (i, k) terms."""

    x_start: int  # first column of the input block (i-major layout, see FusedMessage.perm)
    mul: int
    d1: int
    w_start: int
    mid_start: int  # first row of the instruction's output in TP's irreps_out (for lin_out's matrix)
    d3: int
    group: int  # index into FusedMessage.groups
    u_start: int  # first channel of this path inside its group
    sign: float  # (-1)^l2: Y(-r) = sign * Y(r)
    terms: tuple[tuple[tuple[int, int], ...], ...]  # per k: ((i, column of M), ...)


@dataclass(frozen=True)
class _Group:
    """All paths with one output irrep: ``U`` stacked channels -> the ``lin_out`` blocks of that irrep."""

    ir: o3.Irrep
    d3: int
    channels: int  # U
    out_blocks: tuple[tuple[int, int, int], ...]  # (slice start in lin_out's output, mul, column offset in group)
    out_channels: int


class FusedMessage:
    """``lin_out(scatter_mean(tp(h'[src], Y, w), dst))`` for a symmetric edge set, computed per pair.

    Built from the layer's ``tp`` (``uvu`` instructions with per-edge weights, spherical harmonics of
    multiplicity one) and ``lin_out``; holds no parameters (``lin_out``'s weights are read at call time).
    """

    def __init__(self, tp: o3.TensorProduct, lin_out: o3.Linear):
        i1, i2, mid = tp.irreps_in1, tp.irreps_in2, tp.irreps_out
        if tp.shared_weights or any(mul != 1 for mul, _ in i2):
            raise ValueError("FusedMessage needs per-edge weights and spherical harmonics of multiplicity 1")
        if lin_out.irreps_in != mid:
            raise ValueError(f"lin_out takes {lin_out.irreps_in}, the tensor product gives {mid}")
        self.lin_out = lin_out
        self.dim_out = lin_out.irreps_out.dim
        # input columns in "i-major" order per block: column (u, i) of e3nn's layout -> (i, u)
        perm, starts = [], []
        for (mul, ir), sl in zip(i1, i1.slices()):
            starts.append(len(perm))
            perm += [sl.start + u * ir.dim + i for i in range(ir.dim) for u in range(mul)]
        self.perm = torch.tensor(perm, dtype=torch.long)

        out_irs = {ir for _, ir in lin_out.irreps_out}
        groups: dict[o3.Irrep, list] = {}
        coeff_cols: list[torch.Tensor] = []  # columns of C: [dim_sh] each; M = Y @ C
        col_signs: list[float] = []
        paths, w_start = [], 0
        for ins in tp.instructions:
            if ins.connection_mode != "uvu" or not ins.has_weight:
                raise ValueError(f"FusedMessage supports weighted 'uvu' instructions only, got {ins}")
            (mul, ir1), ir2, (_, ir3) = i1[ins.i_in1], i2[ins.i_in2].ir, mid[ins.i_out]
            w0, w_start = w_start, w_start + mul
            if ir3 not in out_irs:  # lin_out has no path from this irrep: the instruction does not matter
                continue
            c = o3.wigner_3j(ir1.l, ir2.l, ir3.l, dtype=torch.float64) * ins.path_weight  # [d1, d2, d3]
            sl2 = i2.slices()[ins.i_in2]
            terms = []
            for k in range(ir3.dim):
                row = []
                for i in range(ir1.dim):
                    if bool(c[i, :, k].abs().max() > 1e-12):
                        col = torch.zeros(i2.dim, dtype=torch.float64)
                        col[sl2] = c[i, :, k]
                        row.append((i, len(coeff_cols)))
                        coeff_cols.append(col)
                        col_signs.append(float((-1) ** ir2.l))
                terms.append(tuple(row))
            g = groups.setdefault(ir3, [])
            u0 = sum(p[1] for p in g)
            g.append((ins, mul))
            paths.append(
                dict(x_start=starts[ins.i_in1], mul=mul, d1=ir1.dim, w_start=w0, mid_start=mid.slices()[ins.i_out].start,
                     d3=ir3.dim, ir=ir3, u_start=u0, sign=float((-1) ** ir2.l), terms=tuple(terms))
            )
        if w_start != tp.weight_numel:
            raise ValueError("unexpected weight layout of the tensor product")
        order = list(groups)
        self.groups: list[_Group] = []
        for ir in order:
            blocks, c0 = [], 0
            for (mul, ir_o), sl in zip(lin_out.irreps_out, lin_out.irreps_out.slices()):
                if ir_o == ir:
                    blocks.append((sl.start, mul, c0))
                    c0 += mul
            self.groups.append(_Group(ir, ir.dim, sum(m for _, m in groups[ir]), tuple(blocks), c0))
        self.paths = [_Path(**{k: v for k, v in p.items() if k != "ir"}, group=order.index(p["ir"])) for p in paths]
        # output blocks of lin_out without any incoming path stay 0 (+ bias)
        self.coeffs = torch.stack(coeff_cols, dim=1) if coeff_cols else torch.zeros(i2.dim, 0, dtype=torch.float64)
        self.signs = torch.tensor(col_signs, dtype=torch.float64)  # per column of coeffs: (-1)^l2 of its path
        self._cache: dict = {}

    # -- constants in the caller's dtype/device, lin_out's matrix per group (cached per weight version) --
    def _constants(self, like: torch.Tensor):
        params = tuple((p.data_ptr(), p._version) for p in self.lin_out.parameters())
        key = (like.dtype, like.device, params)
        if self._cache.get("key") != key:
            self._cache = {"key": key, "value": self._build_constants(like)}
        return self._cache["value"]

    def _build_constants(self, like: torch.Tensor):
        lin = self.lin_out
        dim_mid = lin.irreps_in.dim
        with torch.no_grad():
            eye = torch.eye(dim_mid, dtype=like.dtype, device=like.device)
            bias = lin(torch.zeros(1, dim_mid, dtype=like.dtype, device=like.device))  # [1, dim_out]
            full = lin(eye) - bias  # [dim_mid, dim_out]: row = input component, column = output component
        mats = []
        for gi, g in enumerate(self.groups):
            w = full.new_zeros(g.channels, g.out_channels)
            for p in self.paths:
                if p.group == gi:
                    rows = full[p.mid_start : p.mid_start + p.mul * p.d3 : p.d3]  # component k = 0 of each channel u
                    for start, mul, c0 in g.out_blocks:
                        w[p.u_start : p.u_start + p.mul, c0 : c0 + mul] = rows[:, start : start + mul * g.d3 : g.d3]
            mats.append(w)
        coeffs = self.coeffs.t().contiguous().to(device=like.device, dtype=like.dtype)  # [terms, dim_sh]
        signs = self.signs.to(device=like.device, dtype=like.dtype).unsqueeze(-1)  # [terms, 1]
        return self.perm.to(like.device), coeffs, signs, mats, bias

    # -- the computation (feature-major: the pair index is the contiguous, vectorised dimension) ------
    def __call__(self, h: torch.Tensor, pairs: EdgePairs, sh: torch.Tensor, w_t: torch.Tensor) -> torch.Tensor:
        """``h`` [A, dim_in] (after lin_in), ``sh`` [P, dim_sh] = Y(r_b - r_a) and ``w_t`` [weights, P] (transposed)
        per pair -> [A, dim_out] = ``lin_out`` of the mean incoming message of each atom."""
        perm, coeffs, signs, mats, bias = self._constants(h)
        n_atoms, n_pairs = h.shape[0], pairs.num_pairs
        # sources' features, [dim_in, 2, P]: direction 0 = a -> b, 1 = b -> a
        x = h.index_select(1, perm).t().contiguous().index_select(1, pairs.gather).view(-1, 2, n_pairs)
        m = torch.mm(coeffs, sh.t())  # [terms, P]: M_p[i, k] for a -> b
        m = torch.stack([m, m * signs], dim=1)  # ... and for b -> a (Y(-r) = (-1)^l Y(r))
        out = h.new_zeros(n_atoms, self.dim_out)
        for gi, g in enumerate(self.groups):
            t = h.new_empty(g.d3, g.channels, 2, n_pairs)
            for p in self.paths:
                if p.group != gi:
                    continue
                xb = x[p.x_start : p.x_start + p.d1 * p.mul].view(p.d1, p.mul, 2, n_pairs)
                wx = xb * w_t[p.w_start : p.w_start + p.mul].view(1, p.mul, 1, n_pairs)
                for k, terms in enumerate(p.terms):
                    o = t[k, p.u_start : p.u_start + p.mul]  # [mul, 2, P], contiguous
                    if not terms:
                        o.zero_()
                        continue
                    (i, col), rest = terms[0], terms[1:]
                    torch.mul(wx[i], m[col], out=o)
                    for i, col in rest:
                        o.addcmul_(wx[i], m[col])
            agg = h.new_zeros(g.d3, n_atoms, g.out_channels)
            for k in range(g.d3):  # lin_out per edge, then the sum per receiving atom
                agg[k].index_add_(0, pairs.scatter, torch.mm(t[k].view(g.channels, 2 * n_pairs).t(), mats[gi]))
            for start, mul, c0 in g.out_blocks:
                out[:, start : start + mul * g.d3] = agg[:, :, c0 : c0 + mul].permute(1, 2, 0).reshape(n_atoms, mul * g.d3)
        return out * pairs.inv_count + bias


def mlp_t(mlp: torch.nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``mlp(x).t()`` for an MLP of ``Linear``/``SiLU`` layers, computed directly in the transposed layout."""
    y = x.t()
    for layer in mlp:
        if isinstance(layer, torch.nn.Linear):
            y = torch.addmm(layer.bias.unsqueeze(-1), layer.weight, y) if layer.bias is not None else layer.weight @ y
        elif isinstance(layer, torch.nn.SiLU):
            y = torch.nn.functional.silu(y)
        else:
            raise TypeError(f"mlp_t supports Linear and SiLU layers, got {type(layer).__name__}")
    return y
