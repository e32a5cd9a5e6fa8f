"""Validation loss of several models on one common set: ``python -m pipeline.train.revalidate --dataset DIR REF ...``.

A run's own ``val_loss`` (``metrics.csv``) is measured on the first ``eval.val_molecules`` molecules of the
validation split *of the data it trained on at the time*; when the training set grew between stretches, or
two campaigns are compared, those numbers are not on the same molecules. This scores every ``REF`` (a
training checkpoint — its EMA weights —, a model dir or ``models:/...``) with the same loss, the same fixed
noise (:func:`pipeline.train.evaluate.validation_loss`) and the same ``--molecules`` of ``--split`` of
``--dataset``, evenly spaced over the split (a packed set lists its parts in order: a run's own ``val_loss``
on the split's first molecules sees only the first part, QM9 in ``data/train``). The loss settings and atom budget are the ``--config``'s (a training YAML; the defaults
when unset). Prints a table (step, val loss) and with ``--json`` writes one record per model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.atomic import write_file_atomic

__all__ = ["main", "revalidate"]


def revalidate(refs: list[str], dataset_dir: Path, split: str = "val", molecules: int = 1024, config: Path | None = None) -> list[dict]:
    """One record per model: ``{"ref", "step", "molecules", "val_loss"}`` on the common set (see module doc)."""
    import torch

    from pipeline.config import load_config
    from pipeline.model.io import NotAModelError, load_denoiser_checked
    from pipeline.sanity import open_dataset
    from pipeline.train.cache import cached_records
    from pipeline.train.config import TrainConfig
    from pipeline.train.evaluate import evenly_spaced, validation_loss
    from pipeline.types import StageError

    cfg = load_config(TrainConfig, config)
    ds = open_dataset(Path(dataset_dir), "revalidate")
    idx = evenly_spaced(list(ds.split_indices(split)), molecules)
    if not idx:
        raise StageError(f"{dataset_dir}: split {split!r} has no molecules")
    records: dict[str, list] = {}  # per feature set and prior (a model's inputs are featurized its way)
    out = []
    for ref in refs:
        meta: dict = {}
        try:
            model, spec = load_denoiser_checked(ref, meta=meta)
        except NotAModelError as exc:  # names the file already
            raise StageError(str(exc)) from None
        except FileNotFoundError as exc:
            raise StageError(f"{ref}: {exc}") from None
        model.eval()
        key = spec.features.model_dump_json() + spec.prior.model_dump_json()
        if key not in records:
            records[key], _ = cached_records(ds, idx, spec.features, spec.prior, cfg.max_atoms, None)
        recs = records[key]
        if not recs:
            raise StageError(f"{dataset_dir}: none of the {len(idx)} {split!r} molecules chosen is usable by {ref}")
        step = meta.get("step")
        loss = validation_loss(model, recs, cfg.loss, cfg.atom_budget, torch.device("cpu"))
        out.append({"ref": ref, "step": None if step is None else int(step), "molecules": len(recs), "val_loss": loss})
    return out


def main(argv: list[str] | None = None) -> int:
    from pipeline.types import StageError

    ap = argparse.ArgumentParser(prog="python -m pipeline.train.revalidate", description=__doc__.split("\n\n")[0])
    ap.add_argument("refs", nargs="+", metavar="REF", help="training checkpoints (.pt), model dirs or models:/ URIs")
    ap.add_argument("--dataset", type=Path, required=True, help="dataset directory or packed training set")
    ap.add_argument("--split", default="val", help="split to score on (default: val)")
    ap.add_argument("--molecules", type=int, default=1024, help="N molecules evenly spaced over the split (default: 1024)")
    ap.add_argument("--config", type=Path, help="training YAML whose loss and atom budget to use (default: TrainConfig's defaults)")
    ap.add_argument("--json", type=Path, help="write the records here")
    args = ap.parse_args(argv)
    if args.molecules < 1:
        ap.error("--molecules must be >= 1")
    try:
        rows = revalidate(args.refs, args.dataset, args.split, args.molecules, args.config)
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"| model | step | val loss ({rows[0]['molecules']} {args.split} molecules of {args.dataset}) |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r['ref']} | {'–' if r['step'] is None else r['step']} | {r['val_loss']:.4f} |")
    if args.json:
        write_file_atomic(args.json, json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
