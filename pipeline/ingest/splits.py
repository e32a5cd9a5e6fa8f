"""Deterministic splits by a hash of the molecule's canonical identity (never by position or path).

All conformers of one molecule share its identity, so they can never straddle splits; the same
molecule lands in the same split in every dataset built with the same ``salt`` and fractions.
"""

from __future__ import annotations

import hashlib

__all__ = ["split_of", "unit_hash"]


def unit_hash(identity: str, salt: str) -> float:
    """A number in [0, 1) from SHA-256 of ``salt`` + identity (stable across runs and machines)."""
    digest = hashlib.sha256(f"{salt}\0{identity}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def split_of(identity: str, train: float, val: float, salt: str) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for a molecule identity (test gets the remainder)."""
    u = unit_hash(identity, salt)
    if u < train:
        return "train"
    if u < train + val:
        return "val"
    return "test"
