"""The samplers the benchmark compares: RDKit ETKDGv3, ETKDGv3 + MMFF, and bondiff.

A sampler is ``fn(mol, n, seed) -> Mol`` taking the intended molecule (hydrogens explicit, stereo
set) and returning a molecule with up to ``n`` conformers; a sampler with a ``batch(mols, n, seed)
-> (mols_or_None, errors)`` attribute (bondiff) is called once per group of molecules with the same
``n`` instead, which is how it is meant to run. :func:`get_sampler` also says when a
sampler cannot run here (e.g. ``pipeline.api`` or a model is missing) and why. A sampler's ``props``
attribute names what made the conformers (``model``, ``refined``, ``steps``), written into its SDF.
"""

from __future__ import annotations

from typing import Any, Callable

from pipeline.benchmark.config import BenchmarkConfig

__all__ = ["Sampler", "get_sampler", "SamplerUnavailable"]

Sampler = Callable[[Any, int, int], Any]


class SamplerUnavailable(RuntimeError):
    """The sampler cannot run in this environment (the message says why)."""


def etkdg(mol: Any, n: int, seed: int) -> Any:
    """RDKit ETKDGv3, seeded, one thread (so CPU time per conformer is comparable)."""
    from rdkit import Chem
    from rdkit.Chem import rdDistGeom

    m = Chem.Mol(mol)
    m.RemoveAllConformers()
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = int(seed)
    params.numThreads = 1
    rdDistGeom.EmbedMultipleConfs(m, int(n), params)
    return m


etkdg.props = {"model": "RDKit ETKDGv3", "refined": "none"}  # type: ignore[attr-defined]


def make_etkdg_mmff(max_iters: int) -> Sampler:
    def etkdg_mmff(mol: Any, n: int, seed: int) -> Any:
        """ETKDGv3 then MMFF94 optimisation of every conformer (UFF when MMFF lacks parameters)."""
        from pipeline.sample.refine import force_field_optimize

        m = etkdg(mol, n, seed)
        force_field_optimize(m, max_iters, threads=1)
        return m

    etkdg_mmff.props = {"model": "RDKit ETKDGv3", "refined": "MMFF94"}  # type: ignore[attr-defined]
    return etkdg_mmff


def make_bondiff(cfg: BenchmarkConfig, refine: str = "none") -> Sampler:
    """``pipeline.api.generate_conformers`` with the configured model; loads the model once (warm-up).

    ``refine="mmff"`` (sampler ``bondiff-mmff``): every sample is then relaxed exactly like the
    ``etkdg-mmff`` baseline (same helper, ``mmff_max_iters``), inside the timed region."""
    try:
        from pipeline.api import generate_conformers, generate_conformers_batch
    except ImportError as exc:
        raise SamplerUnavailable(f"pipeline.api.generate_conformers is not available ({exc})") from exc
    b = cfg.bondiff
    kwargs: dict[str, Any] = {**b.settings, "sampler": b.sampler, "model": b.model, "device": b.device, "refine": refine}
    if refine != "none":
        kwargs["refine_max_iters"] = cfg.mmff_max_iters
    if b.steps is not None:
        kwargs["steps"] = b.steps
    try:  # load the model outside the timed region (ETKDG has nothing to load)
        generate_conformers("CC", num_confs=1, seed=1, **kwargs)
    except Exception as exc:
        raise SamplerUnavailable(f"bondiff model could not be used: {type(exc).__name__}: {exc}") from exc

    def bondiff(mol: Any, n: int, seed: int) -> Any:
        return generate_conformers(mol, num_confs=int(n), seed=int(seed), **kwargs)

    def batch(mols: list[Any], n: int, seed: int) -> tuple[list[Any], list[Any]]:
        """Many molecules with the same sample count in shared batches (the model's natural mode)."""
        return generate_conformers_batch(mols, num_confs=int(n), seed=int(seed), return_errors=True, **kwargs)

    bondiff.batch = batch  # type: ignore[attr-defined]
    from pipeline.sample.stage import model_identity  # name@sha256(weights.pt), as bondiff sample writes it

    bondiff.props = {"model": model_identity(b.model, None), "refined": "MMFF94" if refine != "none" else "none", "steps": b.steps}  # type: ignore[attr-defined]
    return bondiff


def get_sampler(name: str, cfg: BenchmarkConfig) -> Sampler:
    if name == "etkdg":
        return etkdg
    if name == "etkdg-mmff":
        return make_etkdg_mmff(cfg.mmff_max_iters)
    if name == "bondiff":
        return make_bondiff(cfg)
    if name == "bondiff-mmff":
        return make_bondiff(cfg, refine="mmff")
    raise SamplerUnavailable(f"unknown sampler {name!r}")
