"""The export stage: SDF from a sample or validate run (``run_export``, ``ExportConfig``)."""

from pipeline.export.config import ExportConfig
from pipeline.export.stage import run_export

__all__ = ["ExportConfig", "run_export"]
