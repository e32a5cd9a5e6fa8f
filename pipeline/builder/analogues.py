"""Analogues of source molecules for elements the source lacks: one seeded functional-group rewrite per molecule.

The MOSES SMILES keep H C N O F S Cl Br only, so a network trained on them has never seen phosphorus, and
phosphates / phosphonates are common in drug-like and biological molecules (the Hutchison dev set has
several; its raw samples' energy failures are mostly those). ``selection.analogue: phosphorus`` rewrites one
group of each source molecule into its phosphorus counterpart before the filters, with a seeded choice of
one of the rules that match, then of one of its sites:

* carboxylic acid ``C(=O)OH`` → phosphonic acid ``P(=O)(OH)2``;
* carboxylic ester ``C(=O)OR`` → methyl phosphonate diester ``P(=O)(OMe)OR``;
* acyclic amide ``C(=O)N`` → phosphonamidic acid ``P(=O)(OH)N``;
* sulfonamide ``S(=O)2N`` → phosphonamidic acid ``P(=O)(OH)N``;
* aliphatic alcohol ``C-OH`` → phosphate monoester ``C-O-P(=O)(OH)2``;
* acyclic ketone ``C(=O)`` → methyl phosphine oxide ``P(=O)(Me)``;
* acyclic ether ``C-O-CH`` → phosphate diester ``C-O-P(=O)(OH)-O-CH`` (a methoxy group: a methyl phosphate).

These are made-up molecules, chemically sound (RDKit-sanitised, then embedded and MMFF94s-relaxed like any
other): they teach the geometry of tetrahedral P(=O) with O, N and C substituents, not a chemical space.
A molecule with no matching group is skipped (``filtered: no_analogue_site``).
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["ANALOGUE_RULES", "analogue"]

#: rule name -> reaction SMARTS (mapped atoms are kept; the rest of the match is replaced)
ANALOGUE_RULES: dict[str, dict[str, str]] = {
    "phosphorus": {
        "phosphonic_acid": "[#6:1][CX3](=[OX1])[OX2H1]>>[#6:1]P(=O)(O)O",
        "phosphonate_diester": "[#6:1][CX3](=[OX1])[OX2:2][#6:3]>>[#6:1]P(=O)(OC)[O:2][#6:3]",
        "phosphonamidate_from_amide": "[#6:1][CX3;!R](=[OX1])[NX3:2]>>[#6:1]P(=O)(O)[N:2]",
        "phosphonamidate_from_sulfonamide": "[#6:1][SX4;!R](=[OX1])(=[OX1])[NX3:2]>>[#6:1]P(=O)(O)[N:2]",
        "phosphate_monoester": "[CX4:1][OX2H1]>>[CX4:1]OP(=O)(O)O",
        "phosphine_oxide": "[#6:1][CX3;!R](=[OX1])[#6:2]>>[#6:1]P(=O)(C)[#6:2]",
        "phosphate_diester_from_ether": "[#6;!$([#6]=[O,S,N]):1][OX2;!R:2][CX4;!R:3]>>[#6:1][O:2]P(=O)(O)O[C:3]",
    },
}


@lru_cache(maxsize=None)
def _reactions(kind: str):
    from rdkit.Chem import AllChem

    if kind not in ANALOGUE_RULES:
        raise ValueError(f"unknown analogue kind {kind!r} (known: {', '.join(sorted(ANALOGUE_RULES))})")
    return tuple((name, AllChem.ReactionFromSmarts(smarts)) for name, smarts in ANALOGUE_RULES[kind].items())


def analogue(mol, kind: str, seed: int):
    """``(rule, product)``: ``mol`` with one group rewritten, by a seeded choice first among the rules of
    ``kind`` that match (so the common amides do not crowd out the rarer acids and alcohols), then among that
    rule's sites (products deduplicated and sorted by canonical SMILES: the choice does not depend on RDKit's
    atom order); ``None`` when nothing matches or no product sanitises."""
    from rdkit import Chem

    by_rule: dict[str, dict[str, object]] = {}
    for name, rxn in _reactions(kind):
        for prods in rxn.RunReactants((mol,)):
            p = Chem.Mol(prods[0])
            try:
                Chem.SanitizeMol(p)
            except (ValueError, RuntimeError):  # Chem.MolSanitizeException derives from ValueError
                continue
            smi = Chem.MolToSmiles(p, isomericSmiles=True)
            product = Chem.MolFromSmiles(smi)
            if product is not None:
                by_rule.setdefault(name, {}).setdefault(smi, product)
    if not by_rule:
        return None
    rules = sorted(by_rule)
    rule = rules[seed % len(rules)]
    sites = sorted(by_rule[rule])
    return rule, by_rule[rule][sites[(seed // len(rules)) % len(sites)]]
