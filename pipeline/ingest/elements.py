"""Element symbols <-> atomic numbers without RDKit (readers validate atoms before perception)."""

from __future__ import annotations

__all__ = ["SYMBOLS", "atomic_number", "symbol"]

SYMBOLS = (
    "X H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr "
    "Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb "
    "Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr"
).split()
_BY_SYMBOL = {s.lower(): i for i, s in enumerate(SYMBOLS) if i > 0}


def atomic_number(token: str) -> int | None:
    """``"C"``/``"c"``/``"CL"``/``"6"`` -> atomic number; None when it names no element."""
    t = token.strip()
    if t.isdigit():
        z = int(t)
        return z if 0 < z < len(SYMBOLS) else None
    return _BY_SYMBOL.get(t.lower())


def symbol(z: int) -> str:
    return SYMBOLS[z]
