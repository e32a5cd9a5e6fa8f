import pytest
from tests.helpers.builder import HUTCHISON
from rdkit import Chem

from pipeline.builder.config import SelectionConfig
from pipeline.builder.exclusion import load_exclusion
from pipeline.builder.selection import select_candidates


@pytest.fixture(scope="module")
def hutchison():
    return load_exclusion([HUTCHISON, "no/such/dir"])


def test_loads_every_reference_molecule(hutchison):
    n_lines = sum(1 for line in (HUTCHISON / "molecules.smi").read_text().splitlines() if line.strip())
    assert hutchison.n_molecules == n_lines and not hutchison.errors
    assert hutchison.missing == ["no/such/dir"]


def test_exact_stereo_free_and_neutral_forms_are_excluded(hutchison):
    # astex_1p2y is protonated (S)-nicotine: the exact SMILES, the neutral racemic form and the
    # other enantiomer all match it; a close analogue (N-ethyl) does not.
    exact = "n1cc(ccc1)[C@H]1[N@@H+](CCC1)C"
    for smi in (exact, "CN1CCCC1c1cccnc1", "CN1CCC[C@@H]1c1cccnc1"):
        assert hutchison.match(Chem.MolFromSmiles(smi)) == "astex_1p2y", smi
    assert hutchison.match(Chem.MolFromSmiles("CCN1CCCC1c1cccnc1")) is None


def test_selection_excludes_reference_and_records_it(hutchison):
    smiles = ["CN1CCCC1c1cccnc1", "CCCCOC(=O)c1ccccc1", "CCN1CCCC1c1cccnc1"]
    sel = select_candidates(smiles, SelectionConfig(n_molecules=10, min_heavy_atoms=3), hutchison, "src")
    assert sel.excluded == [{"record": 1, "smiles": "CN1CCCC1c1cccnc1", "reference": "astex_1p2y"}]
    assert sorted(c.record for c in sel.candidates) == [2, 3]


def test_require_one_reference_set():
    with pytest.raises(FileNotFoundError, match="no exclusion reference set"):
        load_exclusion(["no/such/dir"], require_one=True)
    assert load_exclusion(["no/such/dir"], require_one=False).n_molecules == 0
