"""xyz readers: plain, multi-frame, QM9-style, extended; every kind of bad frame is a per-record error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.ingest.records import AtomsRecord
from pipeline.ingest.xyz import parse_xyz_text, read_xyz
from pipeline.types import RecordError

WATER = "3\nwater\nO 0.0 0.0 0.1173\nH 0.0 0.7572 -0.4692\nH 0.0 -0.7572 -0.4692\n"
METHANE = (
    "5\nmethane\nC 0.0 0.0 0.0\nH 0.629 0.629 0.629\nH -0.629 -0.629 0.629\n"
    "H -0.629 0.629 -0.629\nH 0.629 -0.629 -0.629\n"
)


def _parse(text: str, name: str = "m"):
    items = list(parse_xyz_text(text, "f.xyz", name))
    return [i for i in items if isinstance(i, AtomsRecord)], [i for i in items if isinstance(i, RecordError)]


def test_plain_xyz_reads_symbols_numbers_and_coordinates():
    recs, errs = _parse(WATER)
    assert not errs and len(recs) == 1
    r = recs[0]
    assert r.atomic_numbers.tolist() == [8, 1, 1]
    assert r.coords.shape == (3, 3) and r.coords[1, 1] == pytest.approx(0.7572)
    assert r.name == "m" and r.record == "1" and r.charge is None and math.isnan(r.energy)


def test_atomic_numbers_as_element_column():
    recs, errs = _parse("2\n\n1 0 0 0\n1 0 0 0.74\n")
    assert not errs and recs[0].atomic_numbers.tolist() == [1, 1]


def test_multi_frame_with_blank_lines_between_frames():
    recs, errs = _parse(WATER + "\n\n" + METHANE + WATER)
    assert not errs
    assert [r.record for r in recs] == ["1", "2", "3"]
    assert [len(r.atomic_numbers) for r in recs] == [3, 5, 3]


def test_qm9_style_properties_mathematica_exponents_and_trailing_lines():
    text = (
        "3\n"
        "gdb 3\t1399.9\t 829.5\t 520.8\t1.8\t6.31\t-0.2928\t0.0687\t0.3615\t19.0002\t0.021375\t-76.404702\t-76.401867\t-76.400922\t-76.422349\t6.002\n"
        "O\t-0.0343604951\t 0.9775395708\t 0.0076015923\t-0.589706\n"
        "H\t 0.0647664923\t 0.0205721989\t 1.23*^-6\t 0.294853\n"
        "H\t 0.8717903737\t 1.3007924611\t-2.0*^-5\t 0.294853\n"
        "1591.1	3728.0	3836.9\n"
        "O\tO\n"
        "InChI=1S/H2O/h1H2\tInChI=1S/H2O/h1H2\n"
    )
    recs, errs = _parse(text + text.replace("gdb 3", "gdb 4"))
    assert not errs and len(recs) == 2
    r = recs[0]
    assert r.coords[1, 2] == pytest.approx(1.23e-6) and r.coords[2, 2] == pytest.approx(-2.0e-5)
    assert r.energy == pytest.approx(-76.404702)  # U0, Hartree
    assert r.extra["qm9_smiles"] == "O" and r.extra["qm9_index"] == 3 and r.extra["source"] == "qm9"
    assert recs[1].extra["qm9_index"] == 4


def test_shipped_qm9_sample_reads_without_errors(data_dir):
    files = sorted((data_dir / "qm9_sample").glob("*.xyz"))[:25]
    assert files
    for f in files:
        items = list(read_xyz(f))
        assert len(items) == 1 and isinstance(items[0], AtomsRecord), items
        assert not math.isnan(items[0].energy)


def test_extended_xyz_properties_columns_charge_and_energy():
    text = (
        "2\n"
        'Lattice="10 0 0 0 10 0 0 0 10" Properties=forces:R:3:species:S:1:pos:R:3 energy=-27.211386245988 charge=-1 pbc="F F F"\n'
        "9.0 9.0 9.0 O 0.0 0.0 0.0\n"
        "9.0 9.0 9.0 H 0.0 0.0 0.97\n"
    )
    recs, errs = _parse(text)
    assert not errs
    r = recs[0]
    assert r.atomic_numbers.tolist() == [8, 1]
    assert r.coords[1].tolist() == [0.0, 0.0, 0.97]
    assert r.charge == -1 and r.energy == pytest.approx(-1.0)  # eV -> Hartree
    assert r.extra["source"] == "extxyz"


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("4\nundercount\nO 0 0 0\nH 0 0 1\nH 0 1 0\n3\nnext\nO 0 0 0\nH 0 0 1\nH 0 1 0\n", "wrong atom count"),
        ("2\novercount\nO 0 0 0\nH 0 0 1\nH 0 1 0\n", "wrong atom count"),
        ("3\nbad element\nO 0 0 0\nXx 0 0 1\nH 0 1 0\n", "unknown element 'Xx'"),
        ("3\nbad number\nO 0 0 0\nH 0 abc 1\nH 0 1 0\n", "non-numeric coordinate 'abc'"),
        ("three\nno count\nO 0 0 0\n", "expected the number of atoms"),
    ],
)
def test_bad_frames_are_errors_and_good_frames_still_read(bad, reason):
    recs, errs = _parse(WATER + bad + METHANE)
    assert len(errs) >= 1
    assert errs[0].file == "f.xyz" and errs[0].record == "2"
    assert reason in errs[0].reason and "line" in errs[0].reason
    # the good frames around the bad one are kept
    assert [len(r.atomic_numbers) for r in recs][0] == 3
    assert [len(r.atomic_numbers) for r in recs][-1] == 5


def test_truncated_last_frame_is_an_error_after_good_frames():
    recs, errs = _parse(WATER + METHANE + "3\ncut\nO 0 0 0\nH 0 0 1\n")
    assert len(recs) == 2 and len(errs) == 1
    assert errs[0].record == "3" and "truncated: header says 3 atoms, the file ends after 2" in errs[0].reason


def test_empty_file_is_one_error(tmp_path):
    f = tmp_path / "empty.xyz"
    f.write_text("\n  \n")
    items = list(read_xyz(f))
    assert len(items) == 1 and isinstance(items[0], RecordError)
    assert items[0].file == str(f) and "empty file" in items[0].reason


def test_name_defaults_to_file_stem(tmp_path):
    f = tmp_path / "my_mol.xyz"
    f.write_text(WATER)
    (rec,) = list(read_xyz(f))
    assert rec.name == "my_mol"
    assert np.isfinite(rec.coords).all()
