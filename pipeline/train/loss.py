r"""The x̂₀ training loss, its time weighting and t-sampling.

For a batch of M molecules:

* **t-sampling** (``stratified``, default): ``t_m = t_min + (t_max − t_min)·(π(m) + u_m)/M`` with a
  random permutation π and ``u_m ~ U[0,1)``: uniform in t marginally, but every batch covers the
  whole range (lower-variance gradients than i.i.d. ``uniform``).
* **noising**: ``x_t = α_t x₀ + σ_t R z`` (:func:`pipeline.diffusion.q_sample`).
* **per-molecule error**: ``e_m = (1/N_m) Σ_atoms ‖x̂₀ − x₀‖²`` (Å², mean over atoms, sum over xyz),
  so every molecule counts the same whatever its size.
* **weighting** (``edm``, default): ``w(t) = min(1/c_out(t)², max_weight)`` with ``c_out`` from
  the Σ-shaped preconditioning (``pipeline.model.precond``): it makes the network's effective
  target unit-scale, i.e. the loss is EDM's; for VP + ``sigma_data = 1`` it is ``1/σ_t² = 1 + SNR_t``,
  capped so the nearly-clean end does not dominate (min-SNR style). ``uniform`` uses ``w = 1``.
* **loss** = mean over molecules of ``w(t_m) e_m``.
"""

from __future__ import annotations

import torch

__all__ = ["sample_times", "loss_weight", "x0_loss"]


def sample_times(m: int, schedule, mode: str, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """[M] training times in ``[t_min, t_max]`` (CPU, drawn from ``generator``)."""
    u = torch.rand(m, generator=generator, dtype=dtype)
    if mode == "stratified":
        perm = torch.randperm(m, generator=generator)
        u = (perm.to(dtype) + u) / m
    elif mode != "uniform":
        raise ValueError(f"unknown t_sampling {mode!r}")
    return schedule.t_min + (schedule.t_max - schedule.t_min) * u


def loss_weight(c_out: torch.Tensor, weighting: str, max_weight: float) -> torch.Tensor:
    if weighting == "uniform":
        return torch.ones_like(c_out)
    if weighting == "edm":
        return (1.0 / c_out.pow(2)).clamp(max=max_weight)
    raise ValueError(f"unknown weighting {weighting!r}")


def x0_loss(model, batch, loss_cfg, generator: torch.Generator, autocast=None):
    """Returns ``(loss, per_molecule_weighted_error [M], t [M])`` for a :class:`TrainBatch` on the model's device.

    ``model`` may be DDP-wrapped; ``model_core`` (the unwrapped ``Denoiser``) provides the schedule and
    preconditioning coefficients.
    """
    from pipeline.diffusion import q_sample

    core = getattr(model, "module", model)
    schedule = core.schedule
    x0 = batch.x0
    m = batch.num_molecules
    t = sample_times(m, schedule, loss_cfg.t_sampling, generator).to(device=x0.device)
    x_t, _ = q_sample(x0, t.to(x0.dtype), batch.prior, schedule, generator=generator)
    ctx = autocast if autocast is not None else torch.autocast("cpu", enabled=False)
    with ctx:
        x0_hat = model(x_t, t.to(x0.dtype), batch.graph)
    x0_hat = x0_hat.float()
    sq = (x0_hat - x0.float()).pow(2).sum(-1)
    bidx = batch.graph.batch
    err = torch.zeros(m, device=x0.device, dtype=sq.dtype).index_add_(0, bidx, sq)
    err = err / torch.bincount(bidx, minlength=m).clamp(min=1).to(sq.dtype)
    _, c_out, _, _ = core.coefficients(t, sq.dtype)
    w = loss_weight(c_out, loss_cfg.weighting, loss_cfg.max_weight)
    per_mol = w * err
    return per_mol.mean(), per_mol.detach(), t.detach()
