"""Python API: conformers for a molecule in one call, a drop-in for RDKit's ``EmbedMultipleConfs``.

>>> from pipeline.api import generate_conformers
>>> mol = generate_conformers("CC(=O)Nc1ccc(O)cc1", num_confs=5, seed=0)   # doctest: +SKIP
>>> mol.GetNumConformers(), mol.GetNumAtoms()                              # doctest: +SKIP
(5, 20)

The returned ``Mol`` has explicit hydrogens (added when the input lacks them, after the input's
atoms, so input atom indices stay valid) and one conformer per sample; unspecified stereo is
assigned (recorded in the ``stereo_assigned`` property). The loaded model is cached per process
(keyed by reference and device).
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

__all__ = ["generate_conformers", "generate_conformers_batch", "clear_model_cache", "ConformerGenerationError"]


class ConformerGenerationError(ValueError):
    """No conformer could be generated for a molecule; the message says why."""


@functools.lru_cache(maxsize=4)
def _cached_model(ref: str | None, device: str) -> tuple[Any, Any, str]:
    from pipeline.sample.stage import load_model

    return load_model(ref, device)


def clear_model_cache() -> None:
    """Forget the models loaded by earlier calls."""
    _cached_model.cache_clear()


def _model(model: Any, device: str) -> tuple[Any, Any]:
    if isinstance(model, tuple):
        return model[0], model[1]
    denoiser, spec, _ = _cached_model(None if model is None else str(model), device)
    return denoiser, spec


def _prepare(item: Any, index: int, seed: int):
    """A SMILES string or an RDKit Mol -> MoleculeInput (H added, unspecified stereo assigned)."""
    from pipeline.sample.inputs import parse_smiles, prepare_molecule

    if isinstance(item, str):
        return prepare_molecule("<api>", str(index + 1), f"mol{index + 1}", parse_smiles(item), seed=seed)
    if item is None or not hasattr(item, "GetNumAtoms"):
        raise ConformerGenerationError(f"molecule {index + 1}: expected a SMILES string or an RDKit Mol, got {type(item).__name__}")
    name = item.GetProp("_Name") if item.HasProp("_Name") and item.GetProp("_Name") else f"mol{index + 1}"
    return prepare_molecule("<api>", str(index + 1), name, item, seed=seed)


def generate_conformers_batch(
    mols: Sequence[Any],
    num_confs: int = 10,
    sampler: str | None = None,
    steps: int | None = None,
    seed: int = 0,
    model: Any = None,
    device: str | None = None,
    atom_budget: int | None = None,
    progress: bool = False,
    return_errors: bool = False,
    **settings: Any,
):
    """Conformers for many molecules (SMILES or RDKit Mols) in shared batches.

    Returns a list aligned with ``mols``: a ``Mol`` with conformers, or ``None`` for a molecule that
    could not be sampled. With ``return_errors`` also the list of
    :class:`~pipeline.types.RecordError` (record = position, 1-based, and name). ``sampler``, ``steps``,
    ``atom_budget`` and the keyword ``settings`` are the fields of
    :class:`~pipeline.sample.config.SampleConfig` (None = its default), e.g. ``refine="none"`` for the
    raw diffusion samples (default: relaxed with MMFF94, UFF without parameters), ``divergence`` (a
    :class:`~pipeline.sample.config.DivergenceConfig`), ``threads`` (torch intra-op threads on a CPU).
    ``device`` None = CUDA when available, else the CPU.
    """
    from pipeline.sample.generate import generate_detailed, sample_config
    from pipeline.sample.inputs import check_supported, spec_elements
    from pipeline.sample.modelspec import resolve_device, spec_max_atoms
    from pipeline.types import RecordError

    dev = resolve_device(device)
    cfg = sample_config(
        num_confs=num_confs, sampler=sampler, steps=steps, seed=seed, device=dev, atom_budget=atom_budget, progress=progress, **settings
    )
    denoiser, spec = _model(model, dev)
    prepared: list[Any] = []
    errors: list[RecordError] = []
    for i, item in enumerate(mols):
        try:
            mi = _prepare(item, i, seed)
        except ValueError as exc:
            errors.append(RecordError("<api>", str(i + 1), str(exc)))
            prepared.append(None)
            continue
        reason = check_supported(mi, spec_max_atoms(spec), spec_elements(spec))
        if reason:
            errors.append(mi.error(reason))
            prepared.append(None)
            continue
        prepared.append(mi)
    ok = [mi for mi in prepared if mi is not None]
    out_mols: list[Any] = [None] * len(prepared)
    if ok:
        res = generate_detailed(
            [mi.mol for mi in ok], denoiser, spec, config=cfg, records=[("<api>", f"{mi.record} ({mi.name})") for mi in ok]
        )
        errors += res.errors
        it = iter(res.mols)
        for i, mi in enumerate(prepared):
            if mi is None:
                continue
            m = next(it)
            if m.GetNumConformers() == 0:
                continue
            m.SetProp("_Name", mi.name)
            m.SetProp("SMILES", mi.smiles)
            if mi.stereo_assigned:
                m.SetProp("stereo_assigned", mi.stereo_assigned)
            out_mols[i] = m
    return (out_mols, errors) if return_errors else out_mols


def generate_conformers(
    mol_or_smiles: Any,
    num_confs: int = 10,
    sampler: str | None = None,
    steps: int | None = None,
    seed: int = 0,
    model: Any = None,
    device: str | None = None,
    **settings: Any,
):
    """``num_confs`` conformers of one molecule (SMILES or RDKit ``Mol``) -> RDKit ``Mol``.

    ``sampler`` / ``steps`` / ``settings``: fields of :class:`~pipeline.sample.config.SampleConfig`
    (None = its default; ``refine="none"`` = raw samples); ``model``: None (the shipped model),
    ``"latest"`` (latest registered), a model dir / checkpoint / ``models:/`` URI, or a loaded
    ``(denoiser, spec)`` pair. Conformers that diverge are retried; if fewer than ``num_confs``
    survive the ``Mol`` has fewer conformers. Raises :class:`ConformerGenerationError` when none
    could be generated (bad SMILES, unsupported element, too many atoms, ...).
    """
    mols, errors = generate_conformers_batch(
        [mol_or_smiles], num_confs, sampler, steps, seed, model, device, return_errors=True, **settings
    )
    if mols[0] is None:
        raise ConformerGenerationError("; ".join(str(e) for e in errors) or "no conformer generated")
    return mols[0]
