"""The service layer: what the API, the CLI and the worker's child call.

Modules: ``submission`` (validate, record and enqueue a job; cancel; store an upload),
``catalog`` (jobs, models, corpora and results as the API shows them, with the headline
cache), ``schemas`` (the REST request and response models), ``errors`` (the user-facing
errors and their HTTP meaning) and ``workflow`` (``run_sources``: load a model, resolve a
corpus and run the analysis, the one workflow behind a job, ``markovlens analyze`` and the
benchmarks).

Importing this package loads no torch: the API imports it, and ``run_sources`` imports the
analysis only when called. Nothing is re-exported here, so ``markovlens.worker.routing`` can
import ``service.errors`` without pulling in submission (which imports routing).
"""
