r"""The x̂₀ training loss, its time weighting and t-sampling.

For a batch of M molecules:

* **t-sampling** (``stratified``, default): ``t_m = t_min + (t_max − t_min)·(π(m) + u_m)/M`` with a
  random permutation π and ``u_m ~ U[0,1)``: uniform in t marginally, but every batch covers the
  whole range (lower-variance gradients than i.i.d. ``uniform``).
* **noising**: ``x_t = α_t x₀ + σ_t R z`` (:func:`pipeline.diffusion.q_sample`).
* **per-molecule error** (``metric``), divided by the molecule's atom count so every molecule counts the same:

  - ``euclidean``: ``Σ_atoms ‖x̂₀ − x₀‖²`` (Å²). It weighs every prior mode by its variance, so the stiff
    modes (bond stretches, angles: the smallest eigenvalues of Σ) barely count.
  - ``whitened``: ``‖R⁺(x̂₀ − x₀)‖²``, the error in the Σ⁻¹ metric, which is what the ε-objective becomes under
    Σ-shaped noise (and what makes the EDM weighting below exactly unit-scale). With ``J = U diag(d) Uᵀ`` and
    ``R = P U diag(d^-1/2)`` it is ``Σ_k (d_k (Rᵀe)_k)²`` (no inverse formed); for the bond prior it equals
    ``eᵀ J e = c (Σ_bonds ‖e_i − e_j‖² + κ ‖L e‖² + ...)``: an error on bonded displacements.

* **auxiliary distance loss** (``aux_distance`` > 0): the mean over atom pairs 1, 2 or 3 bonds apart of
  ``(|x̂_i − x̂_j| − |x_i − x_j|)²`` (Å²), weighted by ``aux_distance · α_t²`` (it matters where x̂₀ is sharp).
* **weighting** (``edm``, default): ``w(t) = min(1/c_out(t)², max_weight)`` with ``c_out`` from
  the Σ-shaped preconditioning (``pipeline.model.precond``): it makes the network's effective
  target unit-scale, i.e. the loss is EDM's; for VP + ``sigma_data = 1`` it is ``1/σ_t² = 1 + SNR_t``,
  capped so the nearly-clean end does not dominate (min-SNR style). ``uniform`` uses ``w = 1``.
* **torsion twists** (``twist``, training only): low-noise inputs noised from x₀ with some rotatable bonds turned,
  the target staying x₀ (:mod:`pipeline.train.twist`).
* **loss** = mean over molecules of ``w(t_m) e_m`` (+ the auxiliary term).
"""

from __future__ import annotations

import torch

__all__ = ["sample_times", "loss_weight", "x0_loss", "per_molecule_error", "local_distance_error"]

_AUX_HOPS = 3  # 1-2, 1-3 and 1-4 pairs


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


def per_molecule_error(x0_hat: torch.Tensor, x0: torch.Tensor, prior, batch: torch.Tensor, m: int, metric: str) -> torch.Tensor:
    """[M] error per atom of each molecule in the ``metric`` (module docstring); ``prior`` a ``PriorBatch``."""
    from pipeline.model.blocks import scatter_mean

    e = x0_hat - x0
    if metric == "euclidean":
        sq = e.pow(2).sum(-1)
    elif metric == "whitened":
        d = prior.unpad(prior.eigvals.unsqueeze(-1))  # [A, 1]: eigenvalue of mode k, laid out like Rᵀe
        sq = (d * prior.apply_Rt(e)).pow(2).sum(-1)
    else:
        raise ValueError(f"unknown loss metric {metric!r}")
    return scatter_mean(sq, batch, m)


def local_distance_error(x0_hat: torch.Tensor, x0: torch.Tensor, graph, m: int) -> torch.Tensor:
    """[M] mean over pairs 1-3 bonds apart of (|x̂_i − x̂_j| − |x_i − x_j|)² (Å²); 0 for molecules without such pairs."""
    from pipeline.model.dense import DenseLayout

    layout = DenseLayout.from_batch(graph.batch, m)
    hops = layout.pairs(graph.pair_hops)
    near = ((hops >= 1) & (hops <= _AUX_HOPS) & layout.pair_mask).to(x0_hat.dtype)
    a, b = layout.to_dense(x0_hat), layout.to_dense(x0)
    da = torch.sqrt((a[:, :, None] - a[:, None]).pow(2).sum(-1) + 1e-12)
    db = torch.sqrt((b[:, :, None] - b[:, None]).pow(2).sum(-1) + 1e-12)
    return ((da - db).pow(2) * near).sum((1, 2)) / near.sum((1, 2)).clamp(min=1)


def x0_loss(model, batch, loss_cfg, generator: torch.Generator, autocast=None, twist=None):
    """Returns ``(loss, per_molecule_weighted_error [M], t [M])`` for a :class:`TrainBatch` on the model's device;
    ``twist`` (a :class:`~pipeline.train.config.TwistConfig`; training steps only) turns torsions of low-noise inputs.

    ``model`` may be DDP-wrapped; ``model_core`` (the unwrapped ``Denoiser``) provides the schedule and
    preconditioning coefficients.
    """
    from pipeline.diffusion import q_sample
    from pipeline.train.twist import twist_x0

    core = getattr(model, "module", model)
    schedule = core.schedule
    x0 = batch.x0
    m = batch.num_molecules
    t = sample_times(m, schedule, loss_cfg.t_sampling, generator).to(device=x0.device)
    if twist is not None and twist.probability > 0:
        ratio = schedule.sigma(t.to(torch.float64)) / schedule.alpha(t.to(torch.float64))
        x_in = twist_x0(x0, batch.graph.batch, ratio, batch.torsions, twist, generator)
    else:
        x_in = x0
    x_t, _ = q_sample(x_in, t.to(x0.dtype), batch.prior, schedule, generator=generator)
    ctx = autocast if autocast is not None else torch.autocast("cpu", enabled=False)
    with ctx:
        x0_hat = model(x_t, t.to(x0.dtype), batch.graph)
    x0_hat, x0 = x0_hat.float(), x0.float()
    bidx = batch.graph.batch
    err = per_molecule_error(x0_hat, x0, batch.prior, bidx, m, loss_cfg.metric)
    _, c_out, _, _ = core.coefficients(t, err.dtype)
    w = loss_weight(c_out, loss_cfg.weighting, loss_cfg.max_weight)
    per_mol = w * err
    if loss_cfg.aux_distance > 0:
        alpha2 = core.schedule.alpha(t.to(torch.float64)).pow(2).to(err.dtype)
        per_mol = per_mol + loss_cfg.aux_distance * alpha2 * local_distance_error(x0_hat, x0, batch.graph, m)
    return per_mol.mean(), per_mol.detach(), t.detach()
