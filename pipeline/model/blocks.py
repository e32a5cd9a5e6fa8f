"""Plain-torch building blocks shared by every network kind: an MLP, the log-SNR time embedding, a scatter mean."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["MLP", "TimeEmbedding", "scatter_mean"]


def scatter_mean(src: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Mean of ``src`` rows grouped by ``index`` (rows of empty groups are 0)."""
    out = torch.zeros((size,) + src.shape[1:], dtype=src.dtype, device=src.device).index_add_(0, index, src)
    count = torch.zeros(size, dtype=src.dtype, device=src.device).index_add_(0, index, torch.ones_like(index, dtype=src.dtype))
    return out / count.clamp(min=1).view((-1,) + (1,) * (src.dim() - 1))


class MLP(nn.Sequential):
    """Linear -> SiLU -> ... -> Linear."""

    def __init__(self, sizes: list[int]):
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.SiLU())
        super().__init__(*layers)


class TimeEmbedding(nn.Module):
    """Fourier features of the log-SNR (a per-molecule scalar), ``dim`` outputs.

    log-SNR spans roughly [-15, 15] for the usual schedules; it is divided by 4 and fed through
    sines/cosines at geometric frequencies, plus the (clipped) value itself.
    """

    def __init__(self, dim: int):
        super().__init__()
        half = max(dim // 2, 1)
        self.register_buffer("freqs", math.pi * torch.logspace(-2, 1, half, base=2.0), persistent=False)
        self.dim = 2 * half + 1

    def forward(self, log_snr: torch.Tensor) -> torch.Tensor:
        u = (log_snr / 4.0).unsqueeze(-1)
        arg = u * self.freqs.to(u.dtype)
        return torch.cat([torch.sin(arg), torch.cos(arg), u.clamp(-5.0, 5.0)], dim=-1)
