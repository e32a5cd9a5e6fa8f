"""Drug-like training-data builder (``bondiff build-data``): MOSES SMILES -> ETKDG+MMFF(+xTB) ensembles.

See ``docs/training-data.md``. Public entry points: :class:`BuildConfig`, :func:`run_build`.
"""

from pipeline.builder.config import BuildConfig  # noqa: F401
from pipeline.builder.stage import run_build  # noqa: F401

__all__ = ["BuildConfig", "run_build"]
