"""Write generated conformers as SDF: one record per conformer, written atomically.

Record layout: title = molecule name; mol block = the molecule graph (bonds, charges, explicit
hydrogens) with the generated coordinates; properties ``SMILES`` (input isomeric identity),
``conformer_index``, ``sampler``, ``steps``, ``seed``, ``model`` (name@weights hash), ``model_version``,
``run_id`` (when tracked), ``stereo_assigned`` (when unspecified stereo was sampled), and per conformer
``attempt``, ``mirror_fixed``, ``refined`` (force field or none), ``energy_kcal_mol`` and
``refine_converged`` (when refined) and ``stereo_ok`` (stereo of the written coordinates).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from pipeline.atomic import write_file_atomic

__all__ = ["write_sdf", "conformer_records"]

CONFORMER_PROPS = ("conformer_index", "attempt", "mirror_fixed", "refined", "energy_kcal_mol", "refine_converged", "stereo_ok")


def _set(mol, key: str, value: Any) -> None:
    if value is None:
        if mol.HasProp(key):
            mol.ClearProp(key)
        return
    if isinstance(value, bool):
        mol.SetProp(key, "true" if value else "false")
    else:
        mol.SetProp(key, str(value))


def conformer_records(
    mol, name: str, props: Mapping[str, Any]
) -> Iterator[tuple[Any, int, dict[str, Any]]]:
    """``(mol, conformer id, properties)`` for every conformer of ``mol`` (conformer props included)."""
    for conf in mol.GetConformers():
        p = dict(props)
        have = conf.GetPropsAsDict()
        p.update({key: have[key] for key in CONFORMER_PROPS if key in have})
        p.setdefault("conformer_index", conf.GetId())
        yield mol, conf.GetId(), {"_Name": name, **p}


def write_sdf(path: str | Path, records: Iterable[tuple[Any, int, Mapping[str, Any]]]) -> int:
    """Write ``(mol, conf_id, props)`` records to ``path`` atomically (its folder is made); returns the record count.

    ``props["_Name"]`` is the title; other props become SDF data fields in the given order.
    """
    from rdkit import Chem

    n = 0

    def write(tmp: Path) -> None:
        nonlocal n
        writer = Chem.SDWriter(str(tmp))
        src, m = None, None
        try:
            for mol, cid, props in records:
                if mol is not src:  # one private copy per molecule: the caller's props stay untouched
                    src, m = mol, Chem.Mol(mol)
                for key in list(m.GetPropNames()):
                    m.ClearProp(key)
                for key, value in props.items():
                    _set(m, key, value)
                writer.write(m, confId=int(cid))
                n += 1
        finally:
            writer.close()

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_file_atomic(path, write)
    return n
