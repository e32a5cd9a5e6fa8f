"""2D depictions for the report: RDKit SVG, hydrogens hidden, stereo shown (wedges, E/Z as drawn)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["depict_svg"]


def depict_svg(mol_or_smiles: Any, width: int = 160, height: int = 120) -> str:
    """An inline ``<svg>`` of the molecule ('' when RDKit cannot draw it)."""
    from rdkit import Chem
    from rdkit.Chem import rdDepictor
    from rdkit.Chem.Draw import rdMolDraw2D

    try:
        mol = Chem.MolFromSmiles(mol_or_smiles) if isinstance(mol_or_smiles, str) else Chem.Mol(mol_or_smiles)
        if mol is None:
            return ""
        mol = Chem.RemoveHs(mol, sanitize=False)
        mol.RemoveAllConformers()
        rdDepictor.SetPreferCoordGen(True)
        rdDepictor.Compute2DCoords(mol)
        drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
        opts = drawer.drawOptions()
        opts.clearBackground = False
        opts.addStereoAnnotation = True
        opts.bondLineWidth = 1
        opts.minFontSize = 9
        rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol)
        drawer.FinishDrawing()
        svg = drawer.GetDrawingText()
    except Exception:  # a depiction is decoration: never fail a report over it
        return ""
    svg = re.sub(r"<\?xml[^>]*\?>\s*", "", svg)
    return svg.replace("<svg ", '<svg role="img" ', 1)
