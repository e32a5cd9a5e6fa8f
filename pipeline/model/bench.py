"""Network cost benchmark: CPU-ms per molecule of every registered network kind and size.

    python -m pipeline.model.bench [--json FILE] [--threads 1,2] [--sizes 20,45,90] [--repeats 5]

For each kind and size (its presets, plus the networks of the shipped model and of v1, the first shipped one): parameters, CPU-ms per molecule
of one forward without gradient, batched as sampling batches it (copies of one molecule filling an
atom budget; the same graph object call after call, so per-molecule work a network caches is not
re-done), and of one forward + backward, batched as training batches it (different conformers under
the training atom budget, nothing cached), for molecules of about 20, 45 and 90 atoms (with H), with
1 and 2 torch threads. CPU time is the process's (all threads), so it is fair on a shared machine.
``--json`` writes ``{"kinds": {KIND: {"params", "forward_ms": {"20": ..}, "train_ms": {..}}}, "default": KIND,
"rows": [...]}`` (ms per molecule, 1 thread, each kind at its default size).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pipeline.atomic import write_file_atomic

__all__ = ["main", "bench_rows", "MOLECULES"]

# drug-like molecules of about 20 / 45 / 90 atoms with explicit hydrogens
MOLECULES = {
    20: "CC(=O)Nc1ccc(O)cc1",  # paracetamol, 20 atoms
    45: "CN(C)CCCN1c2ccccc2CCc2ccccc21",  # imipramine, 45 atoms
    90: "CCCCCCCCCCC[C@H](C)C(=O)N[C@@H](Cc1ccccc1)C(=O)N[C@@H](CC(C)C)C(=O)OCCO",  # a lipopeptide-like ester, 90 atoms
}
SAMPLE_ATOM_BUDGET = 1024
TRAIN_ATOM_BUDGET = 2000


def _configs():
    """(kind, size label, ModelSpec) for every kind's presets + the networks of the shipped model and of v1 (the first shipped one)."""
    from pipeline.model.io import SHIPPED_MODEL_DIR, SPEC_FILE, V1_MODEL_DIR
    from pipeline.model.registry import net_kinds
    from pipeline.model.spec import NET_CONFIGS, ModelSpec, net_preset

    out = []
    for kind in net_kinds():
        for size in NET_CONFIGS[kind]._PRESETS:
            out.append((kind, size, ModelSpec(size="custom", net=net_preset(size, kind=kind))))
    for label, model_dir in (("shipped", SHIPPED_MODEL_DIR), ("v1", V1_MODEL_DIR)):
        spec = ModelSpec.model_validate_json((model_dir / SPEC_FILE).read_text())
        out.append((spec.net.kind, label, spec))
    return out


def _graphs(spec, smiles: str, copies: int, seed: int):
    import torch
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from torch_geometric.data import Batch

    from pipeline.model.features import featurize

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(mol, randomSeed=seed)
    data = featurize(mol, spec.features)
    graph = Batch.from_data_list([data] * copies)
    pos = torch.tensor(mol.GetConformer().GetPositions(), dtype=torch.float32).repeat(copies, 1)
    return graph, pos + 0.3 * torch.randn(pos.shape, generator=torch.Generator().manual_seed(seed))


def _cpu_ms(fn, repeats: int) -> float:
    fn()  # warm-up (and fills any per-graph cache)
    t0 = time.process_time()
    for _ in range(repeats):
        fn()
    return (time.process_time() - t0) / repeats * 1e3


def bench_rows(
    threads=(1, 2), sizes=(20, 45, 90), repeats: int = 5, kinds: list[str] | None = None, presets: list[str] | None = None
) -> list[dict]:
    import torch

    from pipeline.model.precond import build_denoiser

    rows = []
    for kind, label, spec in _configs():
        if (kinds and kind not in kinds) or (presets and label not in presets):
            continue
        torch.manual_seed(0)
        model = build_denoiser(spec)
        params = sum(p.numel() for p in model.parameters())
        for n in sizes:
            smiles = MOLECULES[n]
            n_atoms = _graphs(spec, smiles, 1, 0)[0].num_nodes
            m_sample = max(1, SAMPLE_ATOM_BUDGET // n_atoms)
            m_train = max(1, TRAIN_ATOM_BUDGET // n_atoms)
            g_s, x_s = _graphs(spec, smiles, m_sample, 1)
            g_t, x_t = _graphs(spec, smiles, m_train, 2)
            t_s = torch.full((m_sample,), 0.5)
            t_t = torch.rand(m_train, generator=torch.Generator().manual_seed(3))
            for nt in threads:
                torch.set_num_threads(nt)
                model.eval()

                def fwd():
                    with torch.no_grad():
                        model(x_s, t_s, g_s)

                def train():
                    model.zero_grad(set_to_none=True)
                    model(x_t, t_t, g_t).pow(2).mean().backward()

                fwd_ms = _cpu_ms(fwd, repeats) / m_sample
                model.train()
                train_ms = _cpu_ms(train, max(1, repeats // 2)) / m_train
                rows.append(
                    dict(kind=kind, size=label, params=params, atoms=n_atoms, threads=nt, forward_ms=fwd_ms, train_ms=train_ms,
                         sample_batch=m_sample, train_batch=m_train)
                )
    return rows


def _table(rows: list[dict]) -> str:
    head = "| kind | size | params | atoms | threads | forward CPU-ms/mol (no grad, sampling batch) | fwd+bwd CPU-ms/mol (training batch) |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['size']} | {r['params']:,} | {r['atoms']} | {r['threads']} | {r['forward_ms']:.2f} "
            f"(×{r['sample_batch']}) | {r['train_ms']:.2f} (×{r['train_batch']}) |"
        )
    return "\n".join(lines)


def summary(rows: list[dict], default: str) -> dict:
    """The ``--json`` document: each kind at its default size (pairnet: base; e3nn: the v1 network), 1 thread."""
    want = {"e3nn": "v1", "pairnet": "base"}
    kinds: dict[str, dict] = {}
    for r in rows:
        if r["threads"] != 1 or r["size"] != want.get(r["kind"], "base"):
            continue
        k = kinds.setdefault(r["kind"], {"size": r["size"], "params": r["params"], "forward_ms": {}, "train_ms": {}})
        key = str(min(MOLECULES, key=lambda n: abs(n - r["atoms"])))
        k["forward_ms"][key] = round(r["forward_ms"], 3)
        k["train_ms"][key] = round(r["train_ms"], 3)
    return {"kinds": kinds, "default": default, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    from pipeline.model.registry import DEFAULT_KIND, net_kinds

    ap = argparse.ArgumentParser(prog="python -m pipeline.model.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--threads", default="1,2", help="torch thread counts (comma-separated)")
    ap.add_argument("--sizes", default="20,45,90", help=f"molecule sizes among {sorted(MOLECULES)}")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--kinds", default=None, help=f"only these kinds (comma-separated; registered: {','.join(net_kinds())})")
    ap.add_argument("--presets", default=None, help="only these sizes (comma-separated: tiny, base, shipped, v1)")
    args = ap.parse_args(argv)
    try:
        sizes = tuple(int(s) for s in args.sizes.split(","))
        threads = tuple(int(s) for s in args.threads.split(","))
    except ValueError:
        ap.error("--sizes and --threads take comma-separated integers")
    if bad := [s for s in sizes if s not in MOLECULES]:
        ap.error(f"--sizes {bad}: choose among {sorted(MOLECULES)}")
    kinds = args.kinds.split(",") if args.kinds else None
    if kinds and (bad := [k for k in kinds if k not in net_kinds()]):
        ap.error(f"--kinds {bad}: registered kinds are {net_kinds()}")
    presets = args.presets.split(",") if args.presets else None
    rows = bench_rows(threads, sizes, args.repeats, kinds, presets)
    print(_table(rows))
    if args.json:
        write_file_atomic(args.json, json.dumps(summary(rows, DEFAULT_KIND), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
