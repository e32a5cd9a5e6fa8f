"""Exponential moving average of the weights (the EMA copy is what gets sampled and registered)."""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    """``shadow ← d·shadow + (1−d)·θ`` after each step, with ``d = min(decay, (1+n)/(10+n))`` (warm-up)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.num_updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        params = dict(model.named_parameters())
        for name, s in self.model.named_parameters():
            s.lerp_(params[name].detach().to(s.dtype), 1.0 - d)
        buffers = dict(model.named_buffers())
        for name, sb in self.model.named_buffers():  # constants in e3nn; copied by name for generality
            b = buffers.get(name)
            if b is not None and b.shape == sb.shape:
                sb.copy_(b)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "num_updates": self.num_updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.num_updates = int(state["num_updates"])
