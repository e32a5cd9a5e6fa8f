"""The report's offline 3D viewer: generated conformers overlaid on their aligned references.

:func:`viewer_molecule` turns one validated molecule into a small JSON payload (heavy atoms only,
coordinates in Å rounded to 0.01): the reference conformers superposed on the first reference, and
each generated conformer superposed on its closest reference with the symmetry-aware atom map the
RMSD used (``rdMolAlign.GetBestAlignmentTransform``, no reflection), re-ordered to the reference's
atom order, with its validity and failed checks. Without a reference the generated conformers are
superposed on the first one. :data:`VIEWER_JS` draws a payload with 3Dmol.js (bundled in
``pipeline/resources/js``; :func:`threedmol_js`), references grey, valid conformers green, invalid red.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["viewer_molecule", "threedmol_js", "VIEWER_JS", "THREEDMOL_PATH"]

THREEDMOL_PATH = Path(__file__).resolve().parents[1] / "resources" / "js" / "3Dmol-min.js"


@lru_cache(maxsize=1)
def threedmol_js() -> str:
    """The bundled 3Dmol.js (BSD-3-Clause, see pipeline/resources/js/README.md)."""
    return THREEDMOL_PATH.read_text(encoding="utf-8")


def _graph(mol: Any) -> tuple[list[str], list[list[int]]]:
    """Element symbols and kekulized bonds ``[i, j, order]`` of a hydrogen-free molecule."""
    from rdkit import Chem

    m = Chem.Mol(mol)
    try:
        Chem.Kekulize(m, clearAromaticFlags=True)
    except Exception:  # unkekulizable drawing: single bonds still show the skeleton
        pass
    atoms = [a.GetSymbol() for a in m.GetAtoms()]
    bonds = []
    for b in m.GetBonds():
        order = {Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3}.get(b.GetBondType(), 1)
        bonds.append([b.GetBeginAtomIdx(), b.GetEndAtomIdx(), order])
    return atoms, bonds


def _round(xyz: np.ndarray) -> list[float]:
    return [round(float(v), 2) for v in np.asarray(xyz, dtype=float).ravel()]


def _apply(transform: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    return xyz @ transform[:3, :3].T + transform[:3, 3]


def viewer_molecule(res: Any, ref_mol: Any | None, max_generated: int = 20, max_references: int = 10, max_matches: int = 10000) -> dict[str, Any] | None:
    """Payload for one :class:`~pipeline.validate.stage.MoleculeResult` (None when nothing can be shown)."""
    from rdkit import Chem
    from rdkit.Chem import rdMolAlign

    from pipeline.validate.matching import heavy_atom_maps

    if not res.rows or not res.gen.records:
        return None
    g = Chem.RemoveHs(res.gen.with_conformers(), sanitize=False)
    g_ids = [c.GetId() for c in g.GetConformers()][:max_generated]
    rows = res.rows
    out: dict[str, Any] = {"name": res.gen.name, "refs": [], "gen": []}
    if ref_mol is not None and ref_mol.GetNumConformers():
        r = Chem.RemoveHs(ref_mol, sanitize=False)
        r_ids = [c.GetId() for c in r.GetConformers()]
        first = Chem.Mol(r)
        for k in r_ids[1:]:  # superpose every reference on the first one (same atoms: identity map)
            rdMolAlign.AlignMol(r, first, prbCid=k, refCid=r_ids[0])
        maps = heavy_atom_maps(g, r, max_matches)
        D = res.rmsd
        for j, gid in enumerate(g_ids):
            k = int(np.nanargmin(D[:, j])) if D is not None and D.shape[1] > j and np.isfinite(D[:, j]).any() else 0
            rms, transform, amap = rdMolAlign.GetBestAlignmentTransform(g, r, prbCid=gid, refCid=r_ids[k], map=maps)
            xyz = _apply(np.asarray(transform), np.asarray(g.GetConformer(gid).GetPositions()))
            ordered = np.zeros_like(xyz)
            for p, q in amap:
                ordered[q] = xyz[p]
            out["gen"].append(_gen_entry(rows[j], ordered, rms))
        out["refs"] = [_round(r.GetConformer(k).GetPositions()) for k in r_ids[:max_references]]
        out["n_refs"] = len(r_ids)
        out["atoms"], out["bonds"] = _graph(r)
    else:
        fixed = Chem.Mol(g)
        for j, gid in enumerate(g_ids):
            if j:
                rdMolAlign.AlignMol(g, fixed, prbCid=gid, refCid=g_ids[0])
            out["gen"].append(_gen_entry(rows[j], np.asarray(g.GetConformer(gid).GetPositions()), None))
        out["n_refs"] = 0
        out["atoms"], out["bonds"] = _graph(g)
    out["n_gen"] = len(res.gen.records)
    return out


def _gen_entry(row: dict, xyz: np.ndarray, rms: float | None) -> dict[str, Any]:
    return {
        "xyz": _round(xyz),
        "valid": bool(row.get("valid")),
        "failed": row.get("failed", "") or "",
        "record": int(row.get("record", 0) or 0),
        "rmsd": None if rms is None else round(float(rms), 3),
    }


#: draws ``BONDIFF_VIEWER`` (payloads by molecule name) into ``#viewer`` with 3Dmol.js
VIEWER_JS = r"""
(function(){
  var data=JSON.parse(document.getElementById('viewer-data').textContent);
  var el=document.getElementById('viewer');
  if(!el||typeof $3Dmol==='undefined'){return;}
  var viewer=$3Dmol.createViewer(el,{backgroundColor:'white',antialias:true});
  var sel=document.getElementById('viewer-mol');
  function pad(s,n){s=String(s);while(s.length<n)s=' '+s;return s;}
  function molblock(atoms,bonds,xyz){
    var s='\n  bondiff\n\n'+pad(atoms.length,3)+pad(bonds.length,3)+'  0  0  0  0  0  0  0  0999 V2000\n';
    for(var i=0;i<atoms.length;i++){
      s+=pad(xyz[3*i].toFixed(4),10)+pad(xyz[3*i+1].toFixed(4),10)+pad(xyz[3*i+2].toFixed(4),10)+' '+(atoms[i]+'   ').slice(0,3)+' 0  0  0  0  0  0  0  0  0  0  0  0\n';
    }
    for(var b=0;b<bonds.length;b++){s+=pad(bonds[b][0]+1,3)+pad(bonds[b][1]+1,3)+pad(bonds[b][2],3)+'  0\n';}
    return s+'M  END\n';
  }
  function show(){
    var d=data[sel.value];viewer.removeAllModels();
    var showRef=document.getElementById('v-ref').checked,showValid=document.getElementById('v-valid').checked,showInvalid=document.getElementById('v-invalid').checked;
    function draw(xyz,radius,color){  // sticks; a sphere for an atom without bonds (methane's heavy atom)
      var m=viewer.addModel(molblock(d.atoms,d.bonds,xyz),'sdf');
      m.setStyle({},{stick:{radius:radius,color:color}});
      m.setStyle({bonds:0},{sphere:{radius:2*radius,color:color}},true);
    }
    if(showRef){d.refs.forEach(function(x){draw(x,0.07,'#8a8a8a');});}
    d.gen.forEach(function(g){
      if((g.valid&&!showValid)||(!g.valid&&!showInvalid))return;
      draw(g.xyz,g.valid?0.13:0.1,g.valid?'#2e9e44':'#d43c3c');
    });
    var nv=d.gen.filter(function(g){return g.valid;}).length;
    document.getElementById('viewer-info').textContent=d.gen.length+' of '+d.n_gen+' generated conformers shown ('+nv+' valid, '+(d.gen.length-nv)+' invalid), '+d.refs.length+' of '+d.n_refs+' references; heavy atoms only, each conformer superposed on its closest reference.';
    viewer.zoomTo();viewer.render();
  }
  sel.addEventListener('change',show);
  ['v-ref','v-valid','v-invalid'].forEach(function(id){document.getElementById(id).addEventListener('change',show);});
  document.querySelectorAll('button[data-view]').forEach(function(b){b.addEventListener('click',function(){sel.value=b.getAttribute('data-view');show();document.getElementById('view3d').scrollIntoView();});});
  window.bondiffViewer=viewer;
  show();
})();
"""
