"""The sampling benchmark runs on the shipped Hutchison set and prints bondiff next to ETKDGv3."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("rdkit")
from pipeline.sample.bench import DEFAULT_SMI, main  # noqa: E402


def test_default_molecules_are_the_shipped_hutchison_set():
    assert DEFAULT_SMI.is_file() and DEFAULT_SMI.parent.name == "hutchison_dev"
    assert len([ln for ln in DEFAULT_SMI.read_text().splitlines() if ln.strip()]) == 194


def test_bench_prints_both_methods_with_the_same_sample_count(tmp_path, capsys):
    smi = tmp_path / "m.smi"
    lines = DEFAULT_SMI.read_text().splitlines()
    smi.write_text(f"{lines[0]}\n{lines[2]}\n")  # two small Hutchison molecules (line 2 is a macrocycle)
    assert main(["--smi", str(smi), "--untrained", "--limit", "2", "-n", "2", "--steps", "2", "--threads", "1", "--refine", "none"]) == 0
    out = capsys.readouterr().out
    assert "molecules: 2 from" in out and "model untrained tiny," in out  # bare --untrained = tiny
    rows = [ln for ln in out.splitlines() if ln.startswith("| bondiff") or ln.startswith("| RDKit")]
    assert len(rows) == 3 and "ETKDGv3 + MMFF" in rows[2] and "refine none" in rows[0]
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        mols, confs = int(cells[1]), int(cells[2])
        assert mols == 2 and confs == 4  # 2 molecules × 2 conformers each, for both methods
        assert all(float(v) > 0 for v in cells[3:]) and re.fullmatch(r"\d+\.\d\d", cells[5])
        assert float(cells[7]) == pytest.approx(float(cells[4]) / confs, abs=0.006)  # CPU-s per conformer (CPU s printed to 0.01)


def test_bench_untrained_config_uses_the_train_configs_network(tmp_path, capsys, monkeypatch):
    import pipeline.model as model_pkg

    built = []
    real = model_pkg.build_denoiser
    monkeypatch.setattr(model_pkg, "build_denoiser", lambda spec: built.append(spec) or real(spec))
    smi = tmp_path / "m.smi"
    smi.write_text(DEFAULT_SMI.read_text().splitlines()[0] + "\n")
    cfg = DEFAULT_SMI.parents[2] / "configs" / "train_v1.yaml"
    assert main(["--smi", str(smi), "--untrained-config", str(cfg), "--limit", "1", "-n", "1", "--steps", "1", "--threads", "1", "--refine", "none"]) == 0
    out = capsys.readouterr().out
    assert f"untrained, net of {cfg}" in out
    net = built[0].net  # configs/train_v1.yaml: 3 layers, 32 scalars, 8 vectors, lmax 2
    assert (net.num_layers, net.scalars, net.vectors, net.lmax) == (3, 32, 8, 2)
