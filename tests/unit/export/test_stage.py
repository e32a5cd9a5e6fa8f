"""run_export: all / only-valid conformers, one file / per molecule, properties carried over."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from pipeline.export import ExportConfig, run_export
from pipeline.export.source import find_table
from pipeline.sample.sdf import conformer_records, write_sdf
from pipeline.types import StageError


def _mol(smiles, name, n):
    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMultipleConfs(m, n, randomSeed=1)
    for c in m.GetConformers():
        c.SetIntProp("conformer_index", c.GetId())
        c.SetBoolProp("mirror_fixed", False)
    return m, name


@pytest.fixture
def source(tmp_path):
    """A sample run's artifacts: gen.sdf with 3 + 2 records."""
    src = tmp_path / "run"
    mols = [_mol("C[C@H](N)C(=O)O", "ala/L", 3), _mol("C[NH3+].[Cl-]", "salt", 2)]
    recs = [
        r
        for m, name in mols
        for r in conformer_records(m, name, {"SMILES": Chem.MolToSmiles(Chem.RemoveHs(m)), "sampler": "ode", "seed": 4})
    ]
    write_sdf(src / "sample" / "gen.sdf", recs)
    return src


def _validate_tables(src, valid):
    """What `bondiff validate` writes: conformers.csv + .parquet keyed by 1-based `record`."""
    rep = src / "validate" / "report"
    rep.mkdir(parents=True)
    df = pd.DataFrame(
        {
            "record": np.arange(1, len(valid) + 1),
            "name": ["ala/L"] * 3 + ["salt"] * 2,
            "conformer_index": [0, 1, 2, 0, 1],
            "valid": valid,
            "failed": ["" if v else "clash,bond_lengths" for v in valid],
        }
    )
    df.to_csv(rep / "conformers.csv", index=False)
    df.to_parquet(rep / "conformers.parquet", index=False)
    pd.DataFrame({"name": ["ala/L", "salt"], "n_valid": [2, 1]}).to_csv(rep / "molecules.csv", index=False)
    return df


def _read(path):
    return [m for m in Chem.SDMolSupplier(str(path), removeHs=False)]


def test_export_all_carries_records_verbatim(source, tmp_path):
    out = tmp_path / "all.sdf"
    res = run_export(ExportConfig(), source, out)
    a, b = _read(source / "sample" / "gen.sdf"), _read(out)
    assert len(b) == 5 and None not in b
    for x, y in zip(a, b):
        assert x.GetPropsAsDict() == y.GetPropsAsDict() and x.GetProp("_Name") == y.GetProp("_Name")
        np.testing.assert_array_equal(x.GetConformer().GetPositions(), y.GetConformer().GetPositions())
        assert Chem.MolToSmiles(x) == Chem.MolToSmiles(y)
    assert res.metrics == {"records_in": 5.0, "records_out": 5.0, "molecules_out": 2.0}


def test_only_valid_uses_validate_table(source, tmp_path):
    _validate_tables(source, [True, False, True, False, True])
    assert find_table(source).name == "conformers.parquet"
    out = tmp_path / "valid.sdf"
    res = run_export(ExportConfig(only_valid=True), source, out)
    recs = _read(out)
    assert [(r.GetProp("_Name"), r.GetProp("conformer_index")) for r in recs] == [("ala/L", "0"), ("ala/L", "2"), ("salt", "1")]
    assert all(r.GetProp("valid") == "true" and r.GetProp("sampler") == "ode" for r in recs)
    assert res.metrics["valid_fraction"] == pytest.approx(0.6)
    from pipeline.hashing import file_hash

    assert [(i.name, i.path, i.digest) for i in res.inputs] == [
        ("conformers", str(source / "sample" / "gen.sdf"), file_hash(source / "sample" / "gen.sdf")),
        ("validation", str(find_table(source)), file_hash(find_table(source))),
    ]
    every = _read(run_export(ExportConfig(), source, tmp_path / "every.sdf").outputs["sdf"])
    assert [r.GetProp("valid") for r in every] == ["true", "false", "true", "false", "true"]
    assert every[1].GetProp("failed_checks") == "clash,bond_lengths"


def test_name_and_conformer_index_key_and_missing_rows(source, tmp_path):
    t = source / "v" / "per_conf.csv"
    t.parent.mkdir()
    pd.DataFrame({"name": ["ala/L", "ala/L", "salt"], "conformer_index": [0, 1, 1], "valid": [True, True, False]}).to_csv(t, index=False)
    res = run_export(ExportConfig(only_valid=True), source, tmp_path / "o.sdf")
    assert [r.GetProp("conformer_index") for r in _read(tmp_path / "o.sdf")] == ["0", "1"]
    assert len(res.errors) == 2 and all("no row in the validation table" in e.reason for e in res.errors)


def test_per_molecule_directory(source, tmp_path):
    out = tmp_path / "by_mol"
    res = run_export(ExportConfig(per_molecule=True), source, out)
    files = sorted(p.name for p in out.iterdir())
    assert files == ["ala_L.sdf", "salt.sdf"]
    assert len(_read(out / "ala_L.sdf")) == 3 and len(_read(out / "salt.sdf")) == 2
    assert res.metrics["molecules_out"] == 2
    with pytest.raises(StageError, match="not an empty directory"):
        run_export(ExportConfig(per_molecule=True), source, out)


def test_only_valid_without_table_or_nothing_valid(source, tmp_path):
    with pytest.raises(StageError, match="needs a validate run"):
        run_export(ExportConfig(only_valid=True), source, tmp_path / "x.sdf")
    _validate_tables(source, [False] * 5)
    with pytest.raises(StageError, match="no conformer .* passed validation"):
        run_export(ExportConfig(only_valid=True), source, tmp_path / "x.sdf")
    assert not (tmp_path / "x.sdf").exists()


def test_no_sdf_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StageError, match="no SDF found"):
        run_export(ExportConfig(), tmp_path / "empty", tmp_path / "o.sdf")
