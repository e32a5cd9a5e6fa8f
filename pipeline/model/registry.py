"""The network registry: one ``build_net(spec)`` for every network kind.

A kind is a ``NetConfig`` variant tagged by ``kind`` (:mod:`pipeline.model.spec`) plus a module class
``Net(cfg, node_dim, pair_dims)`` with ``forward(pos [A,3], log_snr [M], graph) -> [A,3]`` (an
equivariant per-atom vector; the preconditioning wrapper :class:`pipeline.model.precond.Denoiser`
turns it into x̂₀). Every registered kind must pass the same test battery
(``tests/equivariance``). Imports are lazy so that listing kinds costs nothing.
"""

from __future__ import annotations

import importlib

from torch import nn

__all__ = ["NET_KINDS", "DEFAULT_KIND", "build_net", "net_kinds"]

# kind -> "module:Class"
NET_KINDS: dict[str, str] = {
    "e3nn": "pipeline.model.network:EquivariantNet",
    "pairnet": "pipeline.model.pairnet:PairNet",
}
DEFAULT_KIND = "pairnet"  # the kind new trainings get when their config names none (won the side-by-side: docs/model.md)


def net_kinds() -> list[str]:
    return sorted(NET_KINDS)


def build_net(spec) -> nn.Module:
    """A freshly initialised network of ``spec.net.kind`` for ``spec`` (a :class:`~pipeline.model.spec.ModelSpec`)."""
    from pipeline.model.features import node_feature_dim, pair_feature_dims

    kind = spec.net.kind
    if kind not in NET_KINDS:
        raise ValueError(f"unknown network kind {kind!r}; registered: {net_kinds()}")
    module, cls = NET_KINDS[kind].split(":")
    net_cls = getattr(importlib.import_module(module), cls)
    return net_cls(spec.net, node_feature_dim(spec.features), pair_feature_dims(spec.features))
