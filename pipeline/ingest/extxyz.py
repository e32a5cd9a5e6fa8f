"""The comment line of extended xyz (ASE style): ``key=value`` pairs and the ``Properties`` column spec.

Example::

    Lattice="..." Properties=species:S:1:pos:R:3:forces:R:3 energy=-76.4 charge=0 pbc="F F F"
"""

from __future__ import annotations

import shlex

__all__ = ["is_extxyz_comment", "parse_comment", "columns", "EV_PER_HARTREE"]

EV_PER_HARTREE = 27.211386245988


def is_extxyz_comment(line: str) -> bool:
    """True when the comment line uses the extended-xyz ``key=value`` convention with Properties."""
    return "Properties=" in line or "properties=" in line


def parse_comment(line: str) -> dict[str, str]:
    """``key=value`` pairs (values may be quoted); bare words become ``key: "T"`` (ASE's flags)."""
    try:
        tokens = shlex.split(line, posix=True)
    except ValueError as exc:
        raise ValueError(f"cannot parse extended-xyz comment line: {exc}") from None
    out: dict[str, str] = {}
    for tok in tokens:
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k.strip()] = v.strip()
        else:
            out[tok] = "T"
    return out


def columns(properties: str) -> dict[str, tuple[int, int, str]]:
    """``"species:S:1:pos:R:3"`` -> ``{"species": (0, 1, "S"), "pos": (1, 3, "R")}`` (start column, width, type)."""
    parts = properties.split(":")
    if len(parts) % 3:
        raise ValueError(f"Properties={properties!r} is not a list of name:type:count triples")
    out: dict[str, tuple[int, int, str]] = {}
    col = 0
    for i in range(0, len(parts), 3):
        name, typ, count = parts[i], parts[i + 1], parts[i + 2]
        if not count.isdigit():
            raise ValueError(f"Properties={properties!r}: count {count!r} of {name!r} is not an integer")
        out[name] = (col, int(count), typ)
        col += int(count)
    return out
