"""Intra-op thread count for small-tensor torch work (sampling, benchmarks)."""

from __future__ import annotations

import contextlib
from typing import Iterator

__all__ = ["torch_threads"]


@contextlib.contextmanager
def torch_threads(n: int | None = 1) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads (None or 0: leave torch's default), then restore the old count.

    The denoiser's tensors are small (tens of atoms per molecule): OpenMP threads mostly spin and
    synchronise, most of all on shared, busy cores (figures in docs/sample.md, "Throughput benchmark").
    """
    import torch

    if not n:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)
