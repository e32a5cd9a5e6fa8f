"""Training data: dataset molecules -> featurized records -> atom-budget batches.

* :func:`load_records` featurizes each molecule once (RDKit, from the dataset's mapped SMILES) and
  precomputes its prior factor ``R`` (numpy); molecules that cannot be used are returned as
  :class:`~pipeline.types.RecordError` (never dropped silently).
* :class:`AtomBudgetBatcher` plans an epoch: molecules in a seeded random order, **one random
  conformer per molecule per epoch** (``repeats`` > 1 lists every molecule that many times, each
  with its own random conformer, noise and time: useful for tiny datasets), packed greedily into batches of at most ``atom_budget`` atoms
  (a molecule larger than the budget gets a batch of its own). With ``size_window`` = W > 0, each run of W
  molecules of that order is sorted by size before packing, the budget counts *padded* atoms (molecules ×
  largest size) and the batches are shuffled again: batches hold molecules of similar size, which is what a
  network working on dense per-molecule tensors (pairnet) needs to waste no time on padding. The plan depends only on
  ``(seed, epoch)``, which is what makes ``--resume`` exact. Under DDP every rank takes an equal
  share of the batches (``plan[rank::world]``, truncated to the same length).
* :func:`collate` turns a list of (record, conformer) into a :class:`TrainBatch`; :func:`prefetched_batches`
  has worker processes collate the coming batches of the plan, in order, while the training steps run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

if TYPE_CHECKING:
    from pipeline.model.spec import FeatureConfig
from pipeline.types import RecordError

__all__ = ["MoleculeRecord", "TrainBatch", "load_records", "AtomBudgetBatcher", "collate", "prefetched_batches"]


@dataclass
class MoleculeRecord:
    index: int  # molecule index in the dataset
    name: str
    graph: object  # torch_geometric Data from featurize()
    coords: np.ndarray  # [K, N, 3] float32, centred
    bonds: np.ndarray  # [B, 3]
    R: np.ndarray  # [N, N] prior factor
    eigvals: np.ndarray  # [N]
    _rotatable: object = field(default=None, repr=False, compare=False)  # memo of rotatable()

    @property
    def n_atoms(self) -> int:
        return int(self.coords.shape[1])

    @property
    def n_conformers(self) -> int:
        return int(self.coords.shape[0])

    def rotatable(self):
        """This molecule's :class:`~pipeline.train.twist.RotatableBonds` (found once, from ``bonds``)."""
        if self._rotatable is None:
            from pipeline.train.twist import rotatable_bonds

            self._rotatable = rotatable_bonds(self.n_atoms, self.bonds)
        return self._rotatable


@dataclass
class TrainBatch:
    graph: object  # torch_geometric Batch
    x0: torch.Tensor  # [A, 3]
    prior: object  # pipeline.prior.PriorBatch
    names: list[str]
    torsions: object = None  # pipeline.train.twist.TorsionIndex of the batch (for torsion twists)

    @property
    def num_molecules(self) -> int:
        return int(self.graph.num_graphs)

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> "TrainBatch":
        return TrainBatch(
            self.graph.to(device), self.x0.to(device=device, dtype=dtype), self.prior.to(device=device, dtype=dtype), self.names,
            None if self.torsions is None else self.torsions.to(device),
        )


def load_records(
    dataset,
    indices: Sequence[int],
    features: FeatureConfig,
    prior_params,
    max_atoms: int,
) -> tuple[list[MoleculeRecord], list[RecordError]]:
    """Featurize ``dataset`` molecules ``indices``; returns (records, errors)."""
    from pipeline.model.features import featurize

    if indices:
        try:
            import rdkit  # noqa: F401
        except ImportError as exc:  # an environment problem, not a per-record one
            raise ImportError(
                "featurizing molecules needs RDKit; install it, or train with a feature cache (OUT/cache/records-*.npz) "
                "written by a run on a machine that has RDKit"
            ) from exc
    source = str(dataset.root)
    records: list[MoleculeRecord] = []
    errors: list[RecordError] = []
    for i in indices:
        view = dataset.molecule(i)
        where = f"{i} ({view.entry.name})"
        if view.coords.shape[0] == 0:
            errors.append(RecordError(source, where, "molecule has no conformers"))
            continue
        if view.n_atoms > max_atoms:
            errors.append(RecordError(source, where, f"{view.n_atoms} atoms > max_atoms={max_atoms}"))
            continue
        try:
            graph = featurize(view.to_rdkit(conformers=False), features)
        except Exception as exc:  # a per-record chemistry problem: report it, keep the others
            errors.append(RecordError(source, where, f"cannot featurize: {type(exc).__name__}: {exc}"))
            continue
        if graph.num_nodes != view.n_atoms:
            errors.append(RecordError(source, where, f"featurized {graph.num_nodes} atoms, dataset has {view.n_atoms}"))
            continue
        R, d = prior_params.factor(view.n_atoms, view.bonds)
        records.append(
            MoleculeRecord(i, view.entry.name, graph, np.asarray(view.coords, dtype=np.float32), np.asarray(view.bonds), R, d)
        )
    return records, errors


class AtomBudgetBatcher:
    """Seeded epoch plans of (record index, conformer index) batches under an atom budget."""

    def __init__(
        self,
        records: Sequence[MoleculeRecord],
        atom_budget: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        repeats: int = 1,
        size_window: int = 0,
    ):
        if not records:
            raise ValueError("no training molecules")
        self.sizes = [r.n_atoms for r in records]
        self.n_confs = [r.n_conformers for r in records]
        self.atom_budget = atom_budget
        self.seed = seed
        self.rank = rank
        self.world = world
        self.repeats = repeats
        self.size_window = size_window
        self._plans: dict[int, list[list[tuple[int, int]]]] = {}  # the last two epochs' plans (asked for again and again)

    def _all_batches(self, epoch: int) -> list[list[tuple[int, int]]]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(np.tile(np.arange(len(self.sizes)), self.repeats))
        confs = [int(rng.integers(self.n_confs[i])) for i in order.tolist()]
        items = list(zip(order.tolist(), confs))
        if self.size_window <= 0:
            return self._pack(items, padded=False)
        batches = []
        w = self.size_window
        for start in range(0, len(items), w):
            window = sorted(items[start : start + w], key=lambda item: self.sizes[item[0]])
            batches += self._pack(window, padded=True)
        return [batches[j] for j in rng.permutation(len(batches)).tolist()]

    def _pack(self, items: list[tuple[int, int]], padded: bool) -> list[list[tuple[int, int]]]:
        """Greedy packing under the atom budget (``padded``: molecules × largest size)."""
        batches: list[list[tuple[int, int]]] = []
        current: list[tuple[int, int]] = []
        atoms = biggest = 0
        for i, k in items:
            n = self.sizes[i]
            cost = (len(current) + 1) * max(biggest, n) if padded else atoms + n
            if current and cost > self.atom_budget:
                batches.append(current)
                current, atoms, biggest = [], 0, 0
            current.append((i, k))
            atoms += n
            biggest = max(biggest, n)
        if current:
            batches.append(current)
        return batches

    def epoch_plan(self, epoch: int) -> list[list[tuple[int, int]]]:
        """This rank's batches for ``epoch`` (same count on every rank)."""
        if epoch not in self._plans:
            self._plans = {e: p for e, p in self._plans.items() if e == epoch - 1}
            self._plans[epoch] = self._rank_share(self._all_batches(epoch))
        return self._plans[epoch]

    def _rank_share(self, batches: list[list[tuple[int, int]]]) -> list[list[tuple[int, int]]]:
        if self.world == 1:
            return batches
        while len(batches) < self.world:  # tiny datasets: every rank needs at least one batch
            batches = batches + batches
        per_rank = len(batches) // self.world
        return batches[self.rank :: self.world][:per_rank]


def collate(
    records: Sequence[MoleculeRecord], items: Sequence[tuple[int, int]], dtype: torch.dtype = torch.float32, torsions: bool = False
) -> TrainBatch:
    """Build a :class:`TrainBatch` (CPU) from (record index, conformer index) pairs (``torsions``: with the batch's
    rotatable bonds, for torsion twists)."""
    from torch_geometric.data import Batch

    from pipeline.prior.batch import PriorBatch
    from pipeline.train.twist import TorsionIndex

    recs = [records[i] for i, _ in items]
    graph = Batch.from_data_list([r.graph for r in recs])
    x0 = torch.from_numpy(np.concatenate([records[i].coords[k] for i, k in items])).to(dtype)
    prior = PriorBatch.from_factors([r.R for r in recs], [r.eigvals for r in recs], dtype=dtype)
    index = TorsionIndex.of([r.rotatable() for r in recs], [r.n_atoms for r in recs]) if torsions else None
    return TrainBatch(graph, x0, prior, [r.name for r in recs], index)


class _PlannedBatches(Dataset):
    """``(epoch, index) -> ((epoch, index), collated batch)`` of the batcher's epoch plans (what loader workers run)."""

    def __init__(self, records: Sequence[MoleculeRecord], batcher: AtomBudgetBatcher, torsions: bool):
        self.records, self.batcher, self.torsions = records, batcher, torsions
        self._plan: tuple[int, list] | None = None

    def __getitem__(self, key: tuple[int, int]):
        epoch, i = key
        if self._plan is None or self._plan[0] != epoch:
            self._plan = (epoch, self.batcher.epoch_plan(epoch))
        return key, collate(self.records, self._plan[1][i], torsions=self.torsions)


def _positions(batcher: AtomBudgetBatcher, epoch: int, start: int):
    """(epoch, index) from the given position on, through all later epochs (the order the training loop takes)."""
    while True:
        yield from ((epoch, i) for i in range(start, len(batcher.epoch_plan(epoch))))
        epoch, start = epoch + 1, 0


def _as_is(item):
    return item


def prefetched_batches(
    records: Sequence[MoleculeRecord], batcher: AtomBudgetBatcher, epoch: int, start: int, workers: int, torsions: bool = False
):
    """An iterator of ``((epoch, index), TrainBatch)`` from ``(epoch, start)`` on, collated by ``workers`` processes
    ahead of use (forked: the records are shared, not copied; ``torsions`` as for :func:`collate`); None when ``workers`` is 0."""
    if workers <= 0:
        return None
    loader = DataLoader(
        _PlannedBatches(records, batcher, torsions), batch_size=None, sampler=_positions(batcher, epoch, start),
        num_workers=workers, collate_fn=_as_is, prefetch_factor=4, multiprocessing_context="fork",
    )
    return iter(loader)
