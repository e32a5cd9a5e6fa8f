"""The conformer dataset format (docs/design.md §3): flat memory-mappable arrays + a molecule table + manifest."""

from pipeline.data.dataset import (  # noqa: F401
    SCHEMA_VERSION,
    ConformerDataset,
    DatasetWriter,
    MoleculeEntry,
    MoleculeView,
)
