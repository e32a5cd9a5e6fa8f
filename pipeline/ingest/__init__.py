"""Ingest stage: xyz (plain, multi-frame, QM9, extended), SDF/MOL, reference sets and qm9pack
-> a conformer dataset (see :mod:`pipeline.ingest.stage`). Heavy libraries load on use."""

from pipeline.ingest.config import IngestConfig
from pipeline.ingest.stage import run_ingest

__all__ = ["IngestConfig", "run_ingest"]
