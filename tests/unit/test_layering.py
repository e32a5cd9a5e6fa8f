"""Which way imports run (docs/design.md §1), read from the source: every ``import`` statement of a
package, module level or inside a function, is checked against what its layer may use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parents[2] / "pipeline"

# what sits above the stages: the CLI, the run package (chain + tracking), the API, the DAG, the registry
OUTER = {"cli", "commands", "run", "tracking", "registry", "api", "mlflow", "airflow", "dags"}
MATH = ("diffusion", "prior")
STAGES = ("ingest", "data", "builder", "prior", "train", "sample", "validate", "export")
FORBIDDEN = {
    **{pkg: OUTER for pkg in STAGES},
    **{pkg: OUTER | {"model", "train", "sample", "validate", "benchmark"} for pkg in MATH},
    "model": OUTER - {"mlflow"},  # mlflow: only the models:/ resolver, checked below
    "run": {"cli", "commands", "api", "dags", "airflow"},  # the chain sits under the CLI / API / DAG (its airflow.py imports no Airflow)
}


def _imports(path: Path) -> set[str]:
    """The layer names a file imports: ``pipeline.X`` -> ``X``, any other top-level module by its name."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if node.module == "pipeline" else [])
        else:
            continue
        for m in modules:
            parts = m.split(".")
            names.add(parts[1] if parts[0] == "pipeline" and len(parts) > 1 else parts[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(package):
    bad = {
        str(f.relative_to(PIPELINE.parent)): sorted(_imports(f) & FORBIDDEN[package])
        for f in sorted((PIPELINE / package).rglob("*.py"))
    }
    assert {f: names for f, names in bad.items() if names} == {}


def test_the_model_touches_mlflow_only_to_resolve_a_models_uri():
    users = [str(f.relative_to(PIPELINE.parent)) for f in sorted((PIPELINE / "model").rglob("*.py")) if "mlflow" in _imports(f)]
    assert users in ([], ["pipeline/model/io.py"])


def test_the_check_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import numpy\n\ndef f():\n    from pipeline.tracking import track_stage\n    import mlflow.pyfunc\n")
    assert _imports(f) == {"numpy", "tracking", "mlflow"}
