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
        for s, p in zip(self.model.parameters(), model.parameters()):
            s.lerp_(p.detach().to(s.dtype), 1.0 - d)
        for sb, b in zip(self.model.buffers(), model.buffers()):
            sb.copy_(b)

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict(), "num_updates": self.num_updates, "decay": self.decay}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.num_updates = int(state["num_updates"])
