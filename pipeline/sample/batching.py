"""Pack conformer jobs of molecules of different sizes into batches under an atom budget.

A *job* is one conformer to generate: ``(molecule index, conformer index)``. Jobs are packed in
order (largest molecules first, so the budget is filled evenly) into batches whose total atom count
stays within ``atom_budget``; a molecule larger than the budget gets a batch of its own. Every job
appears in exactly one batch.
"""

from __future__ import annotations

from typing import Sequence

__all__ = ["Job", "plan_batches"]

Job = tuple[int, int]  # (molecule index, conformer index)


def plan_batches(n_atoms: Sequence[int], jobs: Sequence[Job], atom_budget: int) -> list[list[Job]]:
    """Group ``jobs`` into batches with ``sum(n_atoms[m] for m, _ in batch) <= atom_budget``.

    ``n_atoms[m]`` is the size of molecule ``m``. Order inside the plan: larger molecules first,
    ties in job order (deterministic).
    """
    if atom_budget < 1:
        raise ValueError(f"atom_budget must be >= 1, got {atom_budget}")
    order = sorted(range(len(jobs)), key=lambda i: (-n_atoms[jobs[i][0]], i))
    batches: list[list[Job]] = []
    current: list[Job] = []
    used = 0
    for i in order:
        job = jobs[i]
        size = int(n_atoms[job[0]])
        if current and used + size > atom_budget:
            batches.append(current)
            current, used = [], 0
        current.append(job)
        used += size
    if current:
        batches.append(current)
    return batches
