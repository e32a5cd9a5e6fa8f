"""The guidance wrapper every x̂₀ guidance shares: acts only where it says, adds its correction, delegates."""

import numpy as np
import torch

from pipeline.sample.x0_guidance import X0Guidance, batch_index, batch_values


class _Net(torch.nn.Module):
    def forward(self, x, t, batch):
        return 2.0 * x


class _Shift(X0Guidance):
    def acts_at(self, t: float) -> bool:
        return t <= 0.5

    def correction(self, pos, t):
        assert pos.dtype == torch.float64 and not pos.requires_grad
        return torch.full_like(pos, t)  # the batch's largest time


def test_wrapper_acts_only_inside_its_window_and_counts():
    net = _Net()
    g = _Shift(net)
    x = torch.randn(4, 3, requires_grad=True)
    assert torch.equal(g(x, torch.tensor([0.9]), None), 2.0 * x)
    assert g.evaluations == 0
    out = g(x, torch.tensor([0.2, 0.5]), None)  # the batch's largest time decides
    assert g.evaluations == 1
    assert torch.allclose(out, 2.0 * x + 0.5) and out.dtype == x.dtype
    out.sum().backward()  # the correction is a constant: the gradient is the network's
    assert torch.allclose(x.grad, torch.full_like(x, 2.0))


def test_wrappers_stack_and_delegate_to_the_model():
    net = _Net()
    g = _Shift(_Shift(net))
    assert list(g.parameters()) == list(net.parameters())
    assert g.training and not g.eval().training
    assert torch.allclose(g(torch.zeros(2, 3), torch.tensor(0.1), None), torch.full((2, 3), 0.2))


def test_batch_index_shifts_each_molecule_by_its_offset():
    idx = batch_index([np.array([[0, 1]]), np.zeros((0, 2), int), np.array([[0, 2], [1, 2]])], [0, 5, 7], 2)
    assert idx.dtype == torch.long and idx.tolist() == [[0, 1], [7, 9], [8, 9]]
    assert batch_index([], [], 6).shape == (0, 6)
    vals = batch_values([np.array([1.5]), np.array([]), np.array([2, 3])])
    assert vals.dtype == torch.float64 and vals.tolist() == [1.5, 2.0, 3.0]
