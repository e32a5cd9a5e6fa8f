"""What each reported number means, with units: one home for the report, the benchmark page and the docs.

``METRICS[key] = (label, unit, definition)``; keys are the base metric names of ``summary.json`` and the
benchmark table (``COV-R`` stands for ``COV-R_mean`` / ``COV-R_<δ>_mean`` …). ``CHECKS[name]`` says in
one line what a failed check means for a chemist.
"""

from __future__ import annotations

__all__ = ["METRICS", "CHECKS", "PLOT_CAPTIONS", "metric_info"]

METRICS: dict[str, tuple[str, str, str]] = {
    "validity": ("valid", "%", "conformers that pass every check (bonds as drawn, stereo, bond lengths and angles, no clash, flat rings, strain), of all SDF records"),
    "stereo_correct": ("stereo correct", "%", "conformers whose every specified stereocentre and E/Z double bond matches the input, of those that have any"),
    "COV-R": ("COV-R", "%", "recall: reference conformers that have a valid generated conformer within δ (heavy-atom RMSD after superposition); are the known shapes found?"),
    "AMR-R": ("AMR-R", "Å", "mean over reference conformers of the RMSD to the closest valid generated conformer; lower is better"),
    "COV-P": ("COV-P", "%", "precision: generated conformers within δ of some reference (invalid ones count as misses); are the generated shapes real?"),
    "AMR-P": ("AMR-P", "Å", "mean over valid generated conformers of the RMSD to the closest reference conformer; lower is better"),
    "core_s_per_conformer": ("CPU-s / conformer", "s", "process CPU time spent generating, divided by the conformers made (timed by bondiff sample / benchmark, not by validate)"),
    "conformers_per_s": ("conformers / s", "1/s", "conformers made per wall-clock second on this machine (depends on its load; CPU-s is the fair figure)"),
    "bond_mae": ("bond-length MAE", "Å", "mean absolute difference of bond lengths between raw samples and the reference conformers, before validation"),
    "angle_mae": ("bond-angle MAE", "°", "mean absolute difference of bond angles between raw samples and the reference conformers, before validation"),
    "n_molecules_without_valid": ("molecules without a valid conformer", "", "they count as coverage 0"),
    "n_generated": ("conformers generated", "", "2K per molecule with K reference conformers"),
}

CHECKS: dict[str, str] = {
    "connectivity": "bonds perceived from the 3D coordinates differ from the drawn molecule (a bond too long or two atoms too close)",
    "stereo_centres": "a stereocentre has the wrong chirality",
    "stereo_bonds": "a double bond has the wrong E/Z",
    "bond_lengths": "a bond length is outside RDKit's distance-geometry bounds (±25 %)",
    "bond_angles": "a bond angle (1-3 distance) is outside the bounds (±25 %)",
    "no_clash": "two non-bonded heavy atoms are closer than 70 % of their lower bound",
    "aromatic_flat": "an aromatic ring is not flat (> 0.25 Å off its plane)",
    "double_bonds_flat": "a C=C double bond and its substituents are not flat (> 0.25 Å)",
    "energy": "strained: MMFF energy minus that of a locally relaxed copy is > 5 kcal/mol per heavy atom",
    "record": "the SDF record could not be read",
}

#: plot file stem -> (title, caption: what to look for)
PLOT_CAPTIONS: dict[str, tuple[str, str]] = {
    "validity_by_check": ("Validity by check", "Share of conformers passing each check; the orange bar is overall validity. Look for the check that drags validity down: connectivity and bond lengths mean unrelaxed geometry, stereo means wrong chirality, energy means strain."),
    "bond_deviations": ("Bond-length deviations", "Each heavy-atom bond's length minus the middle of its RDKit bounds (log scale). A good set is one narrow peak at 0; wide tails are stretched or compressed bonds, which fail the bond-length and connectivity checks."),
    "cov_vs_delta": ("Coverage vs δ", "Mean coverage as the RMSD threshold δ grows (dashed: the δ values reported). Recall should rise well before 1 Å. A dotted line far above COV-R means invalid conformers lie near the references: fixing their validity (e.g. --refine mmff) would pay."),
    "rmsd_distribution": ("RMSD distributions", "RMSD from each reference to its closest valid conformer (recall) and from each valid conformer to its closest reference (precision): mass left of δ is good. The outline shows invalid conformers, which do not count."),
}


def metric_info(key: str) -> tuple[str, str, str]:
    """(label, unit, definition) for a metric key such as ``COV-R_0.5_mean`` or ``validity``."""
    if key in METRICS:
        return METRICS[key]
    base = key.split("_", 1)[0]
    if base in METRICS:
        return METRICS[base]
    raise KeyError(key)
