import numpy as np
import pytest
from tests.helpers.builder import fast_config, write_wheel
from rdkit import Chem
from rdkit.Chem import AllChem

from pipeline.builder import run_build
from pipeline.builder.config import XtbConfig
from pipeline.builder.xtb import refine_conformer, xtb_available

pytestmark = pytest.mark.skipif(not xtb_available(), reason="optional extra: tblite not installed")


def test_relaxation_lowers_the_energy_and_converges():
    mol = Chem.AddHs(Chem.MolFromSmiles("CO"))
    AllChem.EmbedMolecule(mol, randomSeed=1)
    x = mol.GetConformer().GetPositions()
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
    _, e_sp, info_sp = refine_conformer(z, x, 0, XtbConfig(enabled=True, max_steps=0))
    x_opt, e_opt, info = refine_conformer(z, x, 0, XtbConfig(enabled=True, max_steps=200, gtol=5e-4))
    assert info_sp["evals"] == 1 and info["converged"] and info["max_grad"] <= 5e-4
    assert e_opt < e_sp < 0
    assert x_opt.shape == x.shape and not np.allclose(x_opt, x)


def test_build_with_xtb_stores_gfn2_energies(tmp_path):
    wheel = write_wheel(tmp_path / "src", ["OCCN1CCOCC1"])
    cfg = fast_config(wheel, xtb={"enabled": True}, conformers={"max_conformers": 2, "num_embed": 4})
    result = run_build(cfg, tmp_path / "ds", progress=False)
    mf = result.extra["manifest"]
    assert mf["recipe"]["energy_method"] == "GFN2-xTB" and result.tags["energy_method"] == "GFN2-xTB"
    from pipeline.data import ConformerDataset

    view = ConformerDataset(tmp_path / "ds").molecule(0)
    assert np.all(view.energies < -10)  # total GFN2 energies of a 20-atom molecule, Hartree
    assert np.all(np.diff(view.energies) >= 0)
