import gzip
import zipfile

import pytest
from tests.helpers.builder import MEMBER, SMALL, write_wheel

from pipeline.builder.config import SourceConfig
from pipeline.builder.smiles_source import SourceError, parse_smiles_table, read_source


def test_reads_smiles_from_wheel_file_and_directory(tmp_path):
    wheel = write_wheel(tmp_path / "src", SMALL)
    for archive in (wheel, wheel.parent):  # the file itself, or the directory pip downloaded into
        smiles, info = read_source(SourceConfig(archive=str(archive)))
        assert smiles == SMALL
        assert (info.package, info.version, info.n_records) == ("molsets", "0.3.1", len(SMALL))
        assert len(info.sha256) == 64 and info.location == str(wheel.resolve())


def test_version_mismatch_and_missing_archive_are_clear_errors(tmp_path):
    wheel = write_wheel(tmp_path, SMALL, version="0.2.0")
    with pytest.raises(SourceError, match="version 0.2.0 != configured 0.3.1"):
        read_source(SourceConfig(archive=str(wheel)))
    with pytest.raises(SourceError, match="pip download molsets"):
        read_source(SourceConfig(archive=str(tmp_path / "nowhere" / "molsets-0.3.1-py3-none-any.whl")))


def test_missing_member_and_column(tmp_path):
    path = tmp_path / "molsets-0.3.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("moses/other.csv", "x\n")
    with pytest.raises(SourceError, match="no member"):
        read_source(SourceConfig(archive=str(path)))
    with pytest.raises(SourceError, match="no column 'SMILES'"):
        parse_smiles_table(gzip.compress(b"smi\nCCO\n"), "SMILES", "t.csv.gz")
    assert MEMBER.endswith("train.csv.gz")
