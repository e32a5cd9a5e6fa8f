"""A generated folder of bad files, walked through ingest, sample, validate and prior.

One table, one row per case: the command line, the exit code, what the message must name (file,
record, reason), the good records that must come through, and the output that must not exist
afterwards (nothing half-written, no input overwritten). For every row: no Python traceback and no
C++ stack trace (RDKit's "Stacktrace:" / "Invariant Violation" / "UFFTYPER" lines) on stdout or
stderr. Commands run in this process (``pipeline.cli.main``) and ``capfd`` captures the file
descriptors, so RDKit's C++ output and forked workers' output are checked too.
"""

from __future__ import annotations

import bz2
import gzip
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from pipeline.cli import main
from pipeline.model import save_model
from tests.helpers.sample import tiny_model

REPO = Path(__file__).resolve().parents[2]
FAST = ["-n", "1", "--steps", "2", "--sampler", "ode_euler", "--no-progress", "--no-track",
        "--set", "divergence.max_bond_length=1000", "--set", "divergence.max_radius=10000"]  # untrained model
FORBIDDEN = ("Traceback (most recent call last)", "Stacktrace:", "Invariant Violation", "Violation occurred", "UFFTYPER", "****",
             "SMILES Parse Error", "validate: validate:", "nan Å")
RDKIT_LOG = re.compile(r"\[\d\d:\d\d:\d\d\] ")  # RDKit's own log lines start with a timestamp


def _embedded(smiles: str, seed: int = 7):
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    AllChem.MMFFOptimizeMolecule(mol)
    mol.SetProp("_Name", smiles)
    return mol


def _xyz(mol, comment: str = "", pos=None) -> str:
    pos = mol.GetConformer().GetPositions() if pos is None else pos
    return "\n".join([str(mol.GetNumAtoms()), comment] + [f"{a.GetSymbol()} {x:.6f} {y:.6f} {z:.6f}" for a, (x, y, z) in zip(mol.GetAtoms(), pos)]) + "\n"


def _block(mol, pos=None, name=None, props: dict | None = None) -> str:
    m = Chem.Mol(mol)
    if pos is not None:
        m.GetConformer().SetPositions(np.asarray(pos, dtype=float))
    text = Chem.MolToMolBlock(m)
    if name:
        text = name + text[text.index("\n"):]
    for k, v in (props or {}).items():
        text += f">  <{k}>\n{v}\n\n"
    return text + "$$$$\n"


def _edit_bond(block: str, new_line: str | None = None, bond_type: str | None = None) -> str:
    lines = block.split("\n")
    c = next(i for i, ln in enumerate(lines) if ln.endswith("V2000"))
    k = c + int(lines[c][:3]) + 1
    if new_line is not None:
        lines[k] = new_line
    if bond_type is not None:
        lines[k] = lines[k][:6] + bond_type.rjust(3) + lines[k][9:]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The bad (and a few good) files of every class, in a folder ``bad/`` and beside it."""
    root = tmp_path_factory.mktemp("bad_inputs")
    bad = root / "bad"
    (bad / "sub").mkdir(parents=True)
    eth, para, nh = _embedded("CCO"), _embedded("CC(=O)Nc1ccc(O)cc1"), _embedded("C[NH3+]")
    x = eth.GetConformer().GetPositions()
    same, far = x.copy(), x.copy()
    same[1] = same[0]
    far[2, 0] = 1e30
    good_block = _block(para, name="paracetamol")
    # the folder: good records (plain, .gz, .bz2, BOM) and one bad file per class
    (bad / "good.sdf").write_text(good_block)
    (bad / "sub" / "ethanol.xyz.gz").write_bytes(gzip.compress(_xyz(eth, "ethanol").encode()))
    (bad / "sub" / "para.sdf.bz2").write_bytes(bz2.compress(good_block.encode()))
    (bad / "bom.xyz").write_bytes(b"\xef\xbb\xbf" + _xyz(eth, "bom").encode())
    (bad / "latin.xyz").write_bytes(_xyz(eth, "caf\u00e9").encode("latin-1") + _xyz(eth, "second frame").encode())
    (bad / "coincident.xyz").write_text(_xyz(eth, pos=same))
    (bad / "far.xyz").write_text(_xyz(eth, pos=far))
    (bad / "query.sdf").write_text(_edit_bond(_block(eth, name="query"), bond_type="8"))
    (bad / "ghost.sdf").write_text(_edit_bond(_block(eth, name="ghost"), new_line="  1 99  1  0"))
    flat = x.copy()
    flat[:, 2] = 0.0
    (bad / "flat.sdf").write_text(_block(eth, pos=flat, name="flat").replace("3D", "2D", 1))
    (bad / "charged.xyz").write_text(_xyz(nh, "methylammonium, no charge given"))
    (bad / "broken.sdf.gz").write_bytes(b"this is not gzip")
    (bad / "huge.xyz").write_text("999999999999\ncorrupt count\nC 0 0 0\n")  # must not allocate 10^12 atoms
    (bad / "notes.txt").write_text("lab notes\n")
    (bad / "dead.sdf").symlink_to(root / "nowhere.sdf")
    (bad / "sub" / "loop").symlink_to(bad)
    os.mkfifo(bad / "pipe.xyz")
    # beside it
    allbad = root / "allbad"
    allbad.mkdir()
    (allbad / "a.xyz").write_text(_xyz(eth, pos=same))
    (allbad / "b.sdf").write_text(_edit_bond(_block(eth, name="b"), bond_type="8"))
    (root / "mixed.smi").write_bytes(b"\xef\xbb\xbfCCO ethanol\nCC caf\xe9\nxx broken\n[Na+].[O-]C(=O)c1ccccc1 sodium_benzoate\n")
    (root / "records.sdf.gz").write_bytes(gzip.compress((
        _edit_bond(_block(eth, name="query"), bond_type="8") + _edit_bond(_block(eth, name="ghost"), new_line="  1 99  1  0")
        + _block(eth, pos=same, name="coincident") + _block(eth, name="ethanol")).encode()))
    (root / "empty.sdf").write_text("")
    os.mkfifo(root / "pipe.sdf")
    (root / "m.smi").write_text("CCO ethanol\n")
    (root / "thesis").mkdir()
    (root / "thesis" / "thesis.tex").write_text("keep me\n")
    (root / "a_file").write_text("not a folder\n")
    props = {"SMILES": "CCO"}
    (root / "gen.sdf.gz").write_bytes(gzip.compress((
        _block(eth, pos=same, name="ethanol", props=props) + _block(eth, pos=flat, name="ethanol", props=props)
        + _block(eth, pos=far, name="ethanol", props=props) + _edit_bond(_block(eth, name="ethanol", props=props), new_line="  1 99  1  0")
        + _edit_bond(_block(eth, name="ethanol", props=props), bond_type="8") + _block(eth, name="ethanol", props=props)).encode()))
    uff = "".join(_block(_embedded(s), name=s, props={"SMILES": s}) for s in ("C[Sn](C)(C)C", "F[P-](F)(F)(F)(F)F.[Li+]"))
    (root / "uff.sdf").write_text(uff)  # no MMFF parameters: the energy check falls back to UFF, whose typer logs warnings
    model, spec = tiny_model(seed=3, max_atoms=40)
    save_model(root / "model", model, spec)
    return {"root": root}


@dataclass
class Case:
    name: str
    argv: list[str]  # {root} is the files folder, {work} this case's own folder
    rc: int
    says: list[str] = field(default_factory=list)  # substrings of stdout + stderr
    absent: list[str] = field(default_factory=list)  # outputs that must not exist afterwards
    check: Callable[[Path, Path, str], None] | None = None  # (root, work, output) -> asserts


def _manifest_errors(work: Path) -> dict[str, str]:
    mf = json.loads((work / "ds" / "manifest.json").read_text())
    return {Path(e["file"]).name + "#" + e["record"]: e["reason"] for e in mf["errors"]}


def _ingest_folder(root: Path, work: Path, out: str) -> None:
    mf = json.loads((work / "ds" / "manifest.json").read_text())
    assert mf["counts"]["conformers"] == 5  # good.sdf, ethanol.xyz.gz, para.sdf.bz2, bom.xyz, latin.xyz frame 2
    errs = _manifest_errors(work)
    expect = {
        "latin.xyz#1": "not UTF-8", "coincident.xyz#1": "coincident", "far.xyz#1": "absurd", "query.sdf#1": "query bond",
        "ghost.sdf#1": "joins atoms 1 and 99", "flat.sdf#1": "2D coordinates", "charged.xyz#1": "give net charge 0",
        "broken.sdf.gz#-": "not a readable .gz", "notes.txt#-": "unknown file type", "dead.sdf#-": "broken symbolic link",
        "pipe.xyz#-": "FIFO", "huge.xyz#1": "truncated: header says 999999999999 atoms",
    }
    for key, why in expect.items():
        assert key in errs and why in errs[key], (key, errs.get(key))
    assert any("loop" in r for r in errs.values())


def _sdf_names(path: Path) -> list[str]:
    return [m.GetProp("_Name") for m in Chem.SDMolSupplier(str(path), removeHs=False) if m is not None]


def _validate_rows(root: Path, work: Path, out: str) -> None:
    import pandas as pd

    df = pd.read_csv(work / "val" / "conformers.csv")
    by = {int(r.record): r for r in df.itertuples()}
    assert [bool(by[k].coordinates) for k in (1, 2, 3, 6)] == [False, False, False, True]
    assert "coincident" in by[1].error and "flat 2D" in by[2].error and "absurd" in by[3].error
    summary = json.loads((work / "val" / "summary.json").read_text())
    errs = " | ".join(summary["errors"])
    assert "joins atoms 1 and 99" in errs and "query bond" in errs


CASES = [
    # ingest: one folder holding every class; good records kept, every bad file named with its reason
    Case("ingest_folder", ["ingest", "{root}/bad", "--out", "{work}/ds", "--no-track", "--workers", "1"], 0,
         ["errors: 13", "more in", "manifest.json"], check=_ingest_folder),
    Case("ingest_all_bad_lists_every_error", ["ingest", "{root}/allbad", "--out", "{work}/ds", "--no-track", "--workers", "1"], 1,
         ["no good record in 2 records", "a.xyz [record 1]: atoms 1 and 2", "b.sdf [record 1]: bond 1 (1-2) is a query bond"], ["{work}/ds"]),
    Case("ingest_out_is_someone_elses_folder", ["ingest", "{root}/bad/good.sdf", "--out", "{root}/thesis", "--no-track"], 2,
         ["refusing to replace", "thesis"], check=lambda root, work, out: (root / "thesis" / "thesis.tex").read_text() == "keep me\n"),
    Case("ingest_out_under_a_file", ["ingest", "{root}/bad/good.sdf", "--out", "{root}/a_file/ds", "--no-track"], 2,
         ["a_file is a file, not a folder"]),
    Case("ingest_out_is_the_input", ["ingest", "{root}/bad", "--out", "{root}/bad", "--no-track"], 2, ["one of the inputs"]),
    Case("ingest_missing_templates", ["ingest", "{root}/bad/good.sdf", "--smiles-templates", "{root}/nope.smi", "--out", "{work}/ds", "--no-track"], 2,
         ["nope.smi: no such file"], ["{work}/ds"]),
    # sample: good records kept, every bad one named; usage errors before any work
    Case("sample_smi_latin1_and_counter_ion", ["sample", "--input", "{root}/mixed.smi", "--model", "{root}/model", "--out", "{work}/g.sdf", *FAST], 0,
         ["mixed.smi [record 2]: line 2 is not UTF-8", "mixed.smi [record 3 (broken)]", "wrote 2 conformers of 2 molecules"],
         check=lambda root, work, out: _sdf_names(work / "g.sdf") == ["ethanol", "sodium_benzoate"]),
    Case("sample_sdf_gz_bad_records", ["sample", "--input", "{root}/records.sdf.gz", "--model", "{root}/model", "--out", "{work}/g.sdf", *FAST], 0,
         ["[record 1]: bond 1 (1-2) is a query bond", "[record 2]: bond 1 (line", "joins atoms 1 and 99", "[record 3]: atoms 1 and 2 are 0.000 Å apart"],
         check=lambda root, work, out: _sdf_names(work / "g.sdf") == ["ethanol"]),
    Case("sample_empty_sdf", ["sample", "--input", "{root}/empty.sdf", "--model", "{root}/model", "--out", "{work}/g.sdf", *FAST], 1,
         ["empty.sdf", "empty input"], ["{work}/g.sdf"]),
    Case("sample_model_is_not_a_model", ["sample", "--smiles", "CCO", "--model", "{root}/m.smi", "--out", "{work}/g.sdf", *FAST], 2,
         ["--model", "m.smi: not a bondiff model"], ["{work}/g.sdf"]),
    Case("sample_fifo", ["sample", "--input", "{root}/pipe.sdf", "--out", "{work}/g.sdf", *FAST], 2, ["pipe.sdf", "FIFO"], ["{work}/g.sdf"]),
    Case("sample_out_is_the_input", ["sample", "--input", "{root}/m.smi", "--out", "{root}/m.smi", *FAST], 2, ["one of the inputs"],
         check=lambda root, work, out: (root / "m.smi").read_text() == "CCO ethanol\n"),
    Case("sample_out_is_a_folder", ["sample", "--smiles", "CCO", "--out", "{root}/thesis", *FAST], 2, ["is a folder"]),
    Case("sample_out_under_a_file", ["sample", "--smiles", "CCO", "--out", "{root}/a_file/g.sdf", *FAST], 2, ["a_file is a file, not a folder"]),
    Case("sample_bogus_split", ["sample", "--input", "{root}/ds_ok", "--split", "bogus", "--out", "{work}/g.sdf", *FAST], 2,
         ["--split 'bogus'"], ["{work}/g.sdf"]),
    # validate: impossible geometry fails the named check `coordinates`; unreadable records are per-record errors
    Case("validate_gz_impossible_geometry", ["validate", "--generated", "{root}/gen.sdf.gz", "--out", "{work}/val", "--no-track",
                                             "--workers", "1", "--set", "checks.energy=false"], 0,
         ["validated 6 records", "joins atoms 1 and 99"], check=_validate_rows),
    Case("validate_out_is_someone_elses_folder", ["validate", "--generated", "{root}/gen.sdf.gz", "--out", "{root}/thesis", "--no-track"], 2,
         ["refusing to replace", "not a bondiff report folder"], check=lambda root, work, out: sorted(p.name for p in (root / "thesis").iterdir()) == ["thesis.tex"]),
    Case("validate_out_is_the_input", ["validate", "--generated", "{root}/gen.sdf.gz", "--out", "{root}/gen.sdf.gz", "--no-track"], 2,
         ["a folder is expected"]),
    Case("validate_rdkit_logs_stay_quiet", ["validate", "--generated", "{root}/uff.sdf", "--out", "{work}/val", "--no-track", "--workers", "1"], 0,
         ["validated 2 records"]),
    Case("validate_empty", ["validate", "--generated", "{root}/empty.sdf", "--out", "{work}/val", "--no-track"], 1,
         ["bondiff validate: ", "empty.sdf holds no SDF records"], ["{work}/val"]),
    Case("validate_fifo", ["validate", "--generated", "{root}/pipe.sdf", "--out", "{work}/val", "--no-track"], 2, ["FIFO"], ["{work}/val"]),
    # prior: a damaged or absurd dataset is one line, exit 1
    # train: a fine-tuning start that is not a model is named before any work
    Case("train_init_from_not_a_model", ["train", "--init-from", "{root}/m.smi", "--dataset", "{root}/ds_ok", "--prior", "{work}/p",
                                         "--out", "{work}/t", "--no-track"], 1, ["init_from", "m.smi: not a bondiff model"], ["{work}/t"]),
    Case("prior_broken_manifest", ["prior", "--dataset", "{work}/ds", "--out", "{work}/p", "--no-track"], 1,
         ["not a readable bondiff dataset"], ["{work}/p"]),
    Case("prior_absurd_geometry", ["prior", "--dataset", "{work}/ds2", "--out", "{work}/p", "--no-track"], 1,
         ["impossible geometry"], ["{work}/p"]),
]


def _good_dataset(root: Path) -> Path:
    """A small dataset of the folder's good files (made once)."""
    from pipeline.ingest import IngestConfig, run_ingest

    out = root / "ds_ok"
    if not out.exists():
        run_ingest(IngestConfig(workers=1), [root / "bad" / "good.sdf", root / "bad" / "sub" / "ethanol.xyz.gz"], out)
    return out


def _prepare(case: Case, root: Path, work: Path) -> None:
    """Cases that need a (damaged copy of a) dataset."""
    src = _good_dataset(root)
    if case.name == "train_init_from_not_a_model":
        from pipeline.prior.params import PriorParams
        from pipeline.train.toydata import write_prior_json

        write_prior_json(work / "p", PriorParams())
    if case.name == "prior_broken_manifest":
        shutil.copytree(src, work / "ds")
        (work / "ds" / "manifest.json").write_text("{broken")
    if case.name == "prior_absurd_geometry":
        shutil.copytree(src, work / "ds2")
        c = np.load(work / "ds2" / "coords.npy")
        c[3] = 1e30
        np.save(work / "ds2" / "coords.npy", c)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, files, capfd, caplog):
    root = files["root"]
    work = root.parent / "work" / case.name
    work.mkdir(parents=True, exist_ok=True)
    _prepare(case, root, work)

    def fill(s: str) -> str:
        return s.replace("{root}", str(root)).replace("{work}", str(work))

    rc = main([fill(a) for a in case.argv])
    cap = capfd.readouterr()
    out = cap.out + cap.err
    assert rc == case.rc, out
    for s in case.says:
        assert s in out, (s, out)
    for bad in FORBIDDEN:
        assert bad not in out, (bad, out)
    assert not RDKIT_LOG.search(out), out
    # RDKit's log goes through the Python logger "rdkit": it must not reach the root logger (whose
    # handler prints to the terminal; under pytest caplog stands in for it)
    assert not [r.getMessage() for r in caplog.records if r.name == "rdkit"]
    for p in case.absent:
        assert not Path(fill(p)).exists(), p
    # nothing half-written: no temp files or folders left next to the inputs or the outputs
    for d in (root, work, *[p for p in work.rglob("*") if p.is_dir()]):
        assert not [q.name for q in d.iterdir() if q.name.startswith(".") and (".tmp" in q.name or ".old-" in q.name or "write-test" in q.name)], d
    if case.check is not None:
        assert case.check(root, work, out) is not False


def test_run_prints_the_record_errors_of_its_stages(files, tmp_path, mlflow_store, capfd):
    """`bondiff run` with a bad SMILES: the chain goes on with the good ones and says which record
    failed and why (before, the errors were only in a JSON file under the workdir)."""
    import yaml

    root = files["root"]
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "bad-smiles", "workdir": str(tmp_path / "work"), "stages": ["sample"],
        "targets": {"smiles": ["CCO ethanol", "xx broken", "C1CC unclosed"]}, "model": str(root / "model"),
        "sample": {"num_confs": 1, "steps": 2, "sampler": "ode_euler", "progress": False,
                   "divergence": {"max_bond_length": 1000, "max_radius": 10000}},
    }))
    rc = main(["run", str(cfg)])
    cap = capfd.readouterr()
    out = cap.out + cap.err
    assert rc == 0, out
    assert "sample: 2 record error(s)" in out
    assert "--smiles [record 2 (broken)]: cannot parse SMILES 'xx'" in out and "record 3 (unclosed)" in out
    assert not [bad for bad in FORBIDDEN if bad in out]
