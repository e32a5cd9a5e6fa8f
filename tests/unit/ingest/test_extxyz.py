"""Extended xyz as ASE itself writes it (not hand-made): charge and energy from the comment line.

``tests/fixtures/ase_written.extxyz`` was written by ASE 3.29.0 (``ase.io.write(path, frames, format="extxyz")``)
from RDKit ETKDG conformers (seed 7) of ethanol (charge 0) and methylammonium (charge +1), 2 frames
each, with a ``SinglePointCalculator`` holding energies of -100 and -101 eV and zero forces, so the
comment lines read ``Properties=species:S:1:pos:R:3:forces:R:3 charge=... name=... energy=... pbc="F F F"``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.ingest.extxyz import EV_PER_HARTREE
from pipeline.ingest.records import AtomsRecord
from pipeline.ingest.xyz import read_xyz

ASE_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "ase_written.extxyz"


def test_ase_written_frames_read_with_charges_and_energies():
    items = list(read_xyz(ASE_FILE))
    assert all(isinstance(i, AtomsRecord) for i in items), items
    assert [i.record for i in items] == ["1", "2", "3", "4"]
    assert [len(i.atomic_numbers) for i in items] == [9, 9, 8, 8]
    assert [i.charge for i in items] == [0, 0, 1, 1]
    assert [i.energy for i in items] == pytest.approx([-100 / EV_PER_HARTREE, -101 / EV_PER_HARTREE] * 2)
    assert items[0].atomic_numbers.tolist()[:3] == [6, 6, 8]  # species column, then pos, forces ignored


def test_ase_written_file_ingests_into_two_molecules(tmp_path):
    pytest.importorskip("rdkit")
    from pipeline.data.dataset import ConformerDataset
    from pipeline.ingest import IngestConfig, run_ingest

    res = run_ingest(IngestConfig(), [ASE_FILE], tmp_path / "out")
    assert not res.errors
    ds = ConformerDataset(tmp_path / "out")
    assert sorted(e.smiles for e in ds.entries) == ["CCO", "C[NH3+]"]  # charge=1 from the comment line
    assert ds.manifest["counts"]["conformers"] == 4
