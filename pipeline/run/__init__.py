"""The chain ingest → prior → train → sample → validate → export, as ``bondiff run`` and the DAG run it.

One layer: CLI / API / DAG → **run** → stages → model and math. Nothing here computes: it picks each
stage's inputs, caches by content hash and tracks in MLflow.

* :mod:`pipeline.run.config` — ``PipelineConfig``: one YAML for the whole chain (stage sections + chain keys).
* :mod:`pipeline.run.stages` — the adapters between a ``PipelineConfig`` and each stage function.
* :mod:`pipeline.run.state` — the content-hash cache (``<workdir>/pipeline_state.json``).
* :mod:`pipeline.run.chain` — ``run_pipeline`` / ``execute_stage``: one parent run, a child run per stage.
* :mod:`pipeline.run.airflow` — the same chain one stage per process (what ``dags/bondiff_pipeline.py`` calls).

Importing the package imports nothing: stage modules, MLflow and torch load inside the functions.
"""
