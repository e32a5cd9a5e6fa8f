"""Find what an export reads in a run's artifact directory: the generated SDF and, for a validate
run, its per-conformer table.

The per-conformer table (``.parquet`` or ``.csv``) is recognised by its columns: a boolean
``valid`` plus a key — ``record_index`` (0-based position of the conformer in the SDF), ``record``
(1-based, what ``bondiff validate`` writes in ``conformers.csv``/``.parquet``) or ``name`` +
``conformer_index`` (the SDF title and property). An optional ``failed`` column (text
or list of check names) is carried over as ``failed_checks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.missing import is_missing
from pipeline.types import StageError

__all__ = ["find_sdf", "find_table", "ValidityTable", "load_validity"]

TABLE_SUFFIXES = (".parquet", ".csv")


def _pick(paths: list[Path], name: str | None, what: str, root: Path) -> Path | None:
    if name is not None:
        hits = [p for p in paths if p.name == name or str(p.relative_to(root)) == name]
        if not hits:
            raise StageError(f"no {what} named {name!r} under {root} (found: {', '.join(p.name for p in paths) or 'none'})")
        return hits[0]
    return paths[0] if len(paths) == 1 else None


def find_sdf(root: Path, name: str | None = None) -> Path:
    """The one SDF under ``root`` (or the one called ``name``); ``*.errors``-style side files are ignored."""
    sdfs = sorted(p for p in Path(root).rglob("*.sdf") if not p.name.startswith("."))
    chosen = _pick(sdfs, name, "SDF", Path(root))
    if chosen is None:
        if not sdfs:
            raise StageError(f"no SDF found under {root} (is this a sample or validate run?)")
        raise StageError(f"several SDFs under {root}: {', '.join(p.name for p in sdfs)}; choose one with sdf_name")
    return chosen


def _read_table(path: Path):
    import pandas as pd

    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def _key_columns(df) -> tuple[str, ...] | None:
    cols = set(df.columns)
    if "valid" not in cols:
        return None
    for key in (("record_index",), ("record",), ("name", "conformer_index")):
        if set(key) <= cols:
            return key
    return None


def _is_validity_table(df) -> bool:
    return _key_columns(df) is not None


def find_table(root: Path, name: str | None = None) -> Path | None:
    """The per-conformer validation table under ``root``, or None when there is none.

    The same table written as both ``.parquet`` and ``.csv`` counts once (parquet preferred); when
    several tables qualify, one named ``conformers.*`` (the validate stage's) wins.
    """
    cands = sorted(p for p in Path(root).rglob("*") if p.suffix in TABLE_SUFFIXES and not p.name.startswith("."))
    if name is not None:
        return _pick(cands, name, "table", Path(root))
    by_stem: dict[Path, Path] = {}
    for p in cands:
        try:
            ok = _is_validity_table(_read_table(p))
        except Exception:  # an unreadable side table is not the one we look for  # noqa: BLE001
            continue
        if ok and (p.with_suffix("") not in by_stem or p.suffix == ".parquet"):
            by_stem[p.with_suffix("")] = p
    tables = sorted(by_stem.values())
    if len(tables) > 1:
        named = [p for p in tables if p.stem == "conformers"]
        if len(named) == 1:
            return named[0]
        raise StageError(f"several per-conformer tables under {root}: {', '.join(map(str, tables))}; choose one")
    return tables[0] if tables else None


def _as_bool(v: Any) -> bool | None:
    if v is None:
        return None
    if isinstance(v, str):
        s = v.strip().lower()
        if s in {"true", "1", "yes"}:
            return True
        if s in {"false", "0", "no"}:
            return False
        return None
    return None if is_missing(v) else bool(v)


def _failed_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v or None
    if isinstance(v, float):
        return None  # NaN
    try:
        items = list(v)
    except TypeError:
        return str(v)
    return ",".join(str(x) for x in items) or None


@dataclass
class ValidityTable:
    """Lookup of (valid, failed checks) by SDF record index or by (name, conformer_index)."""

    by_index: dict[int, tuple[bool | None, str | None]]
    by_key: dict[tuple[str, str], tuple[bool | None, str | None]]

    def get(self, index: int, name: str, conformer_index: str | None) -> tuple[bool | None, str | None] | None:
        if self.by_index:
            return self.by_index.get(index)
        return self.by_key.get((name, str(conformer_index)))


def load_validity(path: Path) -> ValidityTable:
    """Read a per-conformer table; keys: ``record_index`` (0-based), ``record`` (1-based, the
    validate stage's) or ``name`` + ``conformer_index``."""
    df = _read_table(path)
    key = _key_columns(df)
    if key is None:
        raise StageError(f"{path}: needs a `valid` column and `record_index`, `record` or `name` + `conformer_index`")
    failed = list(df["failed"]) if "failed" in df.columns else [None] * len(df)
    valid = list(df["valid"])
    by_index: dict[int, tuple[bool | None, str | None]] = {}
    by_key: dict[tuple[str, str], tuple[bool | None, str | None]] = {}
    if key[0] in ("record_index", "record"):
        shift = 1 if key[0] == "record" else 0
        for ri, v, f in zip(df[key[0]], valid, failed):
            by_index[int(ri) - shift] = (_as_bool(v), _failed_text(f))
    else:
        for n, ci, v, f in zip(df["name"], df["conformer_index"], valid, failed):
            ci_text = str(int(ci)) if isinstance(ci, float) and not is_missing(ci) else str(ci)
            by_key[(str(n), ci_text)] = (_as_bool(v), _failed_text(f))
    return ValidityTable(by_index, by_key)
