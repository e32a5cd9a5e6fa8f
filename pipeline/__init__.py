"""bondiff: 3D conformer generation with a bond-shaped (correlated-noise) diffusion model.

The import package is ``pipeline``; the distribution and the CLI are ``bondiff``.
Nothing is computed at import time: heavy dependencies (torch, RDKit, MLflow) are imported
inside the modules that need them.
"""

__version__ = "0.1.0"
