"""The sampling stage: molecules in (SMILES / SDF / dataset split), conformers out (SDF).

Public names (imported lazily so ``import pipeline.sample`` stays cheap):
``SampleConfig``, ``SampleInputs``, ``MoleculeInput``, ``read_inputs``, ``plan_batches``,
``generate``, ``generate_detailed``, ``run_sample``, ``load_model``, ``write_sdf``.
"""

from __future__ import annotations

from pipeline.lazy import lazy_exports

_EXPORTS = {
    "SampleConfig": "pipeline.sample.config",
    "SampleInputs": "pipeline.sample.inputs",
    "MoleculeInput": "pipeline.sample.inputs",
    "read_inputs": "pipeline.sample.inputs",
    "plan_batches": "pipeline.sample.batching",
    "generate": "pipeline.sample.generate",
    "generate_detailed": "pipeline.sample.generate",
    "run_sample": "pipeline.sample.stage",
    "load_model": "pipeline.sample.stage",
    "write_sdf": "pipeline.sample.sdf",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
