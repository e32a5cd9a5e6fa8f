"""Distance from raw conformers to their force-field minimum (pipeline.benchmark.to_minimum)."""

from __future__ import annotations

import json

import pytest

Chem = pytest.importorskip("rdkit.Chem")

from rdkit.Chem import AllChem, rdMolTransforms  # noqa: E402

from pipeline.benchmark.to_minimum import distance_to_minimum, main, sdf_distances, summarise  # noqa: E402


def _hexane_at_minimum():
    mol = Chem.AddHs(Chem.MolFromSmiles("CCCCCC"))
    assert AllChem.EmbedMolecule(mol, randomSeed=0) == 0
    AllChem.MMFFOptimizeMolecule(mol, maxIters=5000)
    mol.SetProp("_Name", "hexane")
    return mol


def _twisted(mol, degrees):
    out = Chem.Mol(mol)
    conf = out.GetConformer()
    angle = rdMolTransforms.GetDihedralDeg(conf, 1, 2, 3, 4)
    rdMolTransforms.SetDihedralDeg(conf, 1, 2, 3, 4, angle + degrees)
    return out


def _sdf(path, mols, garbage=False):
    w = Chem.SDWriter(str(path))
    for m in mols:
        w.write(m)
    w.close()
    if garbage:
        with open(path, "a") as fh:
            fh.write("broken\n  no atoms here\n\n  x  y\nM  END\n$$$$\n")
    return path


def test_a_minimum_does_not_move_and_a_turned_torsion_does():
    at_min = _hexane_at_minimum()
    still = distance_to_minimum(at_min)
    assert still.force_field == "MMFF94" and still.rotatable_bonds == 3 and still.name == "hexane"
    assert still.rmsd < 0.02
    moved = distance_to_minimum(_twisted(at_min, 70.0))
    assert moved.rmsd > 0.1  # relaxed out of the eclipsed region: the heavy atoms moved


def test_a_record_without_force_field_parameters_is_skipped_not_counted_as_zero(tmp_path):
    from collections import Counter

    odd = Chem.AddHs(Chem.MolFromSmiles("[Xe]"))  # neither MMFF94 nor UFF parameters: nothing to relax with
    AllChem.EmbedMolecule(odd, randomSeed=0)
    skipped = Counter()
    rows = sdf_distances(_sdf(tmp_path / "odd.sdf", [odd, _hexane_at_minimum()]), skipped=skipped)
    assert [r.name for r in rows] == ["hexane"]
    assert skipped == Counter({(str(tmp_path / "odd.sdf"), "without force-field parameters"): 1})


def test_file_limits_bins_and_the_command(tmp_path, capsys):
    at_min = _hexane_at_minimum()
    path = _sdf(tmp_path / "raw.sdf", [at_min, _twisted(at_min, 70.0), _twisted(at_min, 40.0)], garbage=True)
    assert len(sdf_distances(path, per_molecule=2)) == 2
    rows = sdf_distances(path)
    assert len(rows) == 3
    s = summarise(rows)
    assert s["all"]["samples"] == 3 and s["3-4"]["samples"] == 3
    assert s["0-2"] == {"samples": 0, "median": None, "mean": None}
    assert s["all"]["median"] == pytest.approx(sorted(r.rmsd for r in rows)[1])

    out = tmp_path / "s.json"
    assert main([str(path), "--json", str(out)]) == 0
    cap = capsys.readouterr()
    assert str(path) in cap.out and "1 record(s) unreadable, skipped" in cap.err
    assert json.loads(out.read_text())[str(path)]["all"]["samples"] == 3

    assert main([str(tmp_path / "missing.sdf")]) == 2
    assert "missing.sdf: no such SDF file" in capsys.readouterr().err
