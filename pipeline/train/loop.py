"""The training loop: AdamW + warm-up/cosine LR + clipping + EMA, atom-budget batches, exact resume.

:class:`Trainer` owns the mutable training state (model, EMA, optimiser, scheduler, noise RNG,
position in the epoch plan) and knows how to checkpoint and restore all of it. Metrics go to the
``MetricLogger`` it is given (MLflow when tracked); only rank 0 logs and writes files.

Time is counted per device kind: on CPU the CPU-seconds of the training steps (``cpu_seconds``, what
``cpu_budget_s`` limits), on CUDA their wall seconds (``gpu_seconds``); both are checkpointed and add up over
all stretches. A run on a lent machine also sets :attr:`Trainer.deadline` (wall clock),
:attr:`Trainer.checkpoint_every_s` (a checkpoint at least that often, so a kill loses little) and
:attr:`Trainer.loader_workers` (processes collating the coming batches).
"""

from __future__ import annotations

import math
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Sequence

import torch

from pipeline.train.checkpoint import save_checkpoint
from pipeline.train.data import AtomBudgetBatcher, MoleculeRecord, TrainBatch, collate, prefetched_batches
from pipeline.train.ddp import DistInfo, all_reduce_mean, barrier, broadcast_from_main, wrap_model
from pipeline.train.ema import EMA
from pipeline.train.evaluate import pick_validation, sample_validity, validation_loss
from pipeline.train.loss import x0_loss
from pipeline.train.stop import StopRequest
from pipeline.types import StageError

__all__ = ["lr_factor", "Trainer", "MAX_NONFINITE_STEPS"]

#: consecutive steps with a non-finite loss or gradient after which training stops with an error
MAX_NONFINITE_STEPS = 20


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from 1 to ``min_ratio`` at ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(total - warmup, 1)
    progress = min(max(step - warmup, 0) / span, 1.0)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class Trainer:
    def __init__(
        self,
        model: torch.nn.Module,
        cfg,
        train_records: Sequence[MoleculeRecord],
        val_records: Sequence[MoleculeRecord],
        device: torch.device,
        info: DistInfo,
        logger,
        checkpoint_dir: Path,
        extra_state: Callable[[], dict] | None = None,
    ):
        self.cfg = cfg
        self.twist = getattr(cfg.loss, "twist", None)  # absent from plain views of configs resolved before twists
        self.twists = self.twist is not None and self.twist.probability > 0  # batches then carry their rotatable bonds
        self.device = device
        self.info = info
        self.logger = logger
        self.checkpoint_dir = Path(checkpoint_dir)
        self.extra_state = extra_state or (lambda: {})
        self.core = model
        self.model = wrap_model(model, info, device)
        self.ema = EMA(model, cfg.optim.ema_decay)
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, o.warmup_steps, cfg.max_steps, o.min_lr_ratio)
        )
        self.train_records = list(train_records)
        self.val_records = list(val_records)
        self.batcher = AtomBudgetBatcher(
            self.train_records, cfg.atom_budget, cfg.seed, info.rank, info.world, cfg.repeats, cfg.size_window
        )
        # noise/t RNG: a CPU generator, different per rank, saved in checkpoints
        self.generator = torch.Generator().manual_seed(cfg.seed * 1000 + info.rank)
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.last_metrics: dict[str, float] = {}
        self._bar = None  # tqdm bar while fit() runs on a terminal
        self.molecules_seen = 0
        self.session_molecules = 0  # this process's run only (throughput), not checkpointed
        self.train_seconds = 0.0
        self.cpu_seconds = 0.0  # CPU time of training steps over the whole run (all stretches, this rank); checkpointed
        self.session_cpu_seconds = 0.0  # this stretch only (cpu_budget_s)
        self.skipped_steps = 0  # steps whose loss or gradient was not finite: no update (whole run; checkpointed)
        self.nonfinite_run = 0  # how many of them in a row, up to now
        self.stopped_by: str | None = None  # one of _REASONS: the budget, the deadline, stop_at or a signal
        self.gpu_seconds = 0.0  # wall seconds of training steps on CUDA over the whole run; checkpointed
        self.gpu_stretches: list[dict] = []  # one entry per stretch on a lent GPU (device, steps, seconds); checkpointed
        self.deadline: float | None = None  # time.perf_counter() after which no new step starts ("wall_s")
        self.stop_at: int | None = None  # end this run at this step ("steps"; the LR schedule still runs to max_steps)
        self.checkpoint_every_s: float | None = None  # also checkpoint when this many wall seconds have passed
        self.on_save: Callable[[Path], None] | None = None  # called (rank 0) after every checkpoint written
        self.loader_workers = 0  # > 0: that many processes collate the coming batches (a GPU outruns one CPU collating)
        self.data_wait_seconds = 0.0  # this run: time the steps waited for a collated batch (loader_workers > 0)
        self._last_save = time.perf_counter()

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "model": self.core.state_dict(),
            "ema": self.ema.state_dict()["model"],
            "ema_num_updates": self.ema.num_updates,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "molecules_seen": self.molecules_seen,
            "cpu_seconds": self.cpu_seconds,
            "skipped_steps": self.skipped_steps,
            "nonfinite_run": self.nonfinite_run,
            "gpu_seconds": self.gpu_seconds,
            "gpu_stretches": list(self.gpu_stretches),
            "atom_budget": self.cfg.atom_budget,
            "epoch_batches": len(self.batcher.epoch_plan(self.epoch)),
            **self.extra_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.core.load_state_dict(state["model"])
        self.ema.load_state_dict({"model": state["ema"], "num_updates": state["ema_num_updates"]})
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.molecules_seen = int(state.get("molecules_seen", 0))
        self.cpu_seconds = float(state.get("cpu_seconds", 0.0))
        self.skipped_steps = int(state.get("skipped_steps", 0))
        self.nonfinite_run = int(state.get("nonfinite_run", 0))
        self.gpu_seconds = float(state.get("gpu_seconds", 0.0))
        self.gpu_stretches = list(state.get("gpu_stretches", []))
        saved = state.get("epoch_batches")
        if saved and self.batch_in_epoch:  # another atom budget or data set: keep the fraction of the epoch done
            now = len(self.batcher.epoch_plan(self.epoch))
            if now != int(saved):
                self.batch_in_epoch = min(round(self.batch_in_epoch * now / int(saved)), now)

    def save(self, name: str = "last.pt") -> Path | None:
        self._last_save = time.perf_counter()
        if not self.info.is_main:
            return None
        path = save_checkpoint(self.checkpoint_dir / name, self.state_dict())
        if self.on_save is not None:
            self.on_save(path)
        return path

    # -- one step ------------------------------------------------------------------------------
    def _autocast(self):
        if self.device.type == "cuda" and self.cfg.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def train_step(self, items, batch: TrainBatch | None = None) -> dict[str, float]:
        """One optimiser step on ``items`` (``batch``: the same items already collated, on the CPU)."""
        self.model.train()
        batch = (batch or collate(self.train_records, items, torsions=self.twists)).to(self.device)
        loss, per_mol, t = x0_loss(self.model, batch, self.cfg.loss, self.generator, self._autocast(), twist=self.twist)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.core.parameters(), self.cfg.optim.grad_clip)
        loss_value = float(all_reduce_mean(loss.detach(), self.info))
        if not (math.isfinite(float(grad_norm)) and math.isfinite(loss_value)):
            # gradients are all-reduced, so every rank takes the same decision: no update from this batch
            self._skip_nonfinite(loss_value, float(grad_norm))
            return {"skipped_steps": 1.0, "molecules": float(batch.num_molecules * self.info.world)}
        self.nonfinite_run = 0
        self.optimizer.step()
        self.scheduler.step()
        self.ema.update(self.core)
        metrics = {"loss": loss_value, "grad_norm": float(grad_norm), "skipped_steps": 0.0}
        nb = self.cfg.loss.t_buckets
        bucket = (t.cpu() * nb).long().clamp(max=nb - 1)
        for b in range(nb):
            sel = bucket == b
            if bool(sel.any()):
                metrics[f"loss_t{b}"] = float(per_mol.cpu()[sel].mean())
        metrics["molecules"] = float(batch.num_molecules * self.info.world)
        return metrics

    def _skip_nonfinite(self, loss: float, grad_norm: float) -> None:
        """A batch gave a non-finite loss or gradient: no parameter update; too many in a row is an error."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()  # the schedule stays a function of the step
        self.skipped_steps += 1
        self.nonfinite_run += 1
        if self.nonfinite_run >= MAX_NONFINITE_STEPS:
            raise StageError(
                f"training diverged: {self.nonfinite_run} steps in a row up to step {self.step + 1} had a non-finite "
                f"loss or gradient (last: loss {loss}, gradient norm {grad_norm}); the weights were not updated by "
                f"them. Resume from an earlier checkpoint with a lower learning rate (optim.lr) or grad_clip"
            )

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Validation loss and sample validity with the EMA weights (rank 0 only)."""
        if not self.info.is_main:
            return {}
        ev = self.cfg.eval
        out: dict[str, float] = {}
        val = pick_validation(self.val_records, ev.val_molecules, ev.val_pick)
        if val:
            out["val_loss"] = validation_loss(self.ema.model, val, self.cfg.loss, self.cfg.atom_budget, self.device)
        if ev.sample_molecules > 0 and val:
            out.update(sample_validity(self.ema.model, val[: ev.sample_molecules], ev.sampler, ev.bond_tolerance, self.device))
        return out

    # -- the loop --------------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        self._bar = self._progress_bar()
        with StopRequest() as stop:
            self._steps(stop)
        if self._bar is not None:
            self._bar.set_description("train: final evaluation")
        final = self.evaluate()
        self._log(final)
        self.save()
        if self._bar is not None:
            self._bar.close()
        barrier(self.info)
        return {**self.last_metrics, **final}

    def _steps(self, stop: StopRequest) -> None:
        """Train until max_steps, the stretch's CPU budget, the deadline, stop_at or a stop request (SIGTERM / Ctrl-C)."""
        cfg = self.cfg
        window: list[dict[str, float]] = []
        t_window = time.perf_counter()
        ahead = prefetched_batches(
            self.train_records, self.batcher, self.epoch, self.batch_in_epoch, self.loader_workers, torsions=self.twists
        )
        while self.step < cfg.max_steps and self.stopped_by is None:
            plan = self.batcher.epoch_plan(self.epoch)
            while self.batch_in_epoch < len(plan) and self.step < cfg.max_steps and self.stopped_by is None:
                t0, c0 = time.perf_counter(), time.process_time()
                batch = None
                if ahead is not None:  # collation has no randomness: collating ahead changes no result
                    key, batch = next(ahead)
                    self.data_wait_seconds += time.perf_counter() - t0
                    if key != (self.epoch, self.batch_in_epoch):
                        raise RuntimeError(f"batch prefetch out of step: {key} != {(self.epoch, self.batch_in_epoch)}")
                metrics = self.train_step(plan[self.batch_in_epoch], batch)  # ends with a device sync (loss.item)
                wall = time.perf_counter() - t0
                self.train_seconds += wall
                if self.device.type == "cuda":
                    self.gpu_seconds += wall
                else:
                    cpu = time.process_time() - c0
                    self.cpu_seconds += cpu
                    self.session_cpu_seconds += cpu
                self.stopped_by = self._stop_reason(stop)
                metrics["cpu_hours"] = self.cpu_seconds / 3600.0
                if self.gpu_seconds:
                    metrics["gpu_hours"] = self.gpu_seconds / 3600.0
                self.batch_in_epoch += 1
                self.step += 1
                if self._bar is not None:
                    self._bar.update(1)
                self.molecules_seen += int(metrics["molecules"])
                self.session_molecules += int(metrics["molecules"])
                window.append(metrics)
                if self.step % cfg.log_every == 0 or self.step == cfg.max_steps or self.stopped_by:
                    self._log_window(window, time.perf_counter() - t_window)
                    window, t_window = [], time.perf_counter()
                if cfg.eval.every and self.step % cfg.eval.every == 0 and self.step < cfg.max_steps:
                    self._log(self.evaluate())
                    barrier(self.info)
                    t_window = time.perf_counter()
                timed = self.checkpoint_every_s is not None and time.perf_counter() - self._last_save >= self.checkpoint_every_s
                if self.step % cfg.checkpoint_every == 0 or timed:
                    self.save()
            if self.batch_in_epoch >= len(plan):
                self.epoch += 1
                self.batch_in_epoch = 0

    _REASONS = ("cpu_budget_s", "wall_s", "steps", "SIGTERM", "SIGINT")

    def _stop_reason(self, stop: StopRequest) -> str | None:
        """Why this stretch ends after this step, if it does (under DDP, rank 0 decides for everyone)."""
        budget = self.cfg.cpu_budget_s is not None and self.session_cpu_seconds >= self.cfg.cpu_budget_s
        late = self.deadline is not None and time.perf_counter() >= self.deadline
        last = self.stop_at is not None and self.step + 1 >= self.stop_at
        reason = "cpu_budget_s" if budget else "wall_s" if late else "steps" if last else stop.reason
        code = torch.tensor([float(self._REASONS.index(reason) + 1 if reason else 0)])
        code = int(broadcast_from_main(code, self.info).item())
        return self._REASONS[code - 1] if code else None

    def _progress_bar(self):
        """A tqdm bar over steps on an interactive terminal (rank 0); None in logs, tests, Airflow."""
        if not (self.info.is_main and sys.stderr.isatty()):
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.cfg.max_steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True)

    def _log(self, metrics: dict[str, float]) -> None:
        if metrics and self.info.is_main:
            self.logger.log_metrics(metrics, step=self.step)

    def _log_window(self, window: list[dict[str, float]], seconds: float) -> None:
        keys = {k for m in window for k in m}
        agg = {k: sum(m[k] for m in window if k in m) / sum(1 for m in window if k in m) for k in keys if k != "molecules"}
        for key in ("cpu_hours", "gpu_hours"):  # cumulative: the last value, not the window mean
            if key in window[-1]:
                agg[key] = window[-1][key]
        agg["molecules"] = float(sum(m["molecules"] for m in window))  # trained in this window (exact count)
        agg["skipped_steps"] = float(sum(m.get("skipped_steps", 0.0) for m in window))  # non-finite batches in this window
        agg["molecules_per_s"] = agg["molecules"] / max(seconds, 1e-9)
        agg["lr"] = float(self.scheduler.get_last_lr()[0])
        agg["epoch"] = float(self.epoch)
        self.last_metrics = agg
        self._log(agg)
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{agg.get('loss', float('nan')):.3g}", lr=f"{agg['lr']:.2g}", mol_s=f"{agg['molecules_per_s']:.1f}")
