"""Shared by the prior/diffusion numeric tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def single_torch_thread():
    """Small-tensor math is fastest on one intra-op thread; with 2 threads on a loaded 2-core box the
    sampler tests ran ~17x slower (OpenMP contention). Restores the previous setting afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
