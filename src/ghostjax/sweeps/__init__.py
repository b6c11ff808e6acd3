"""Sweeps over dimensions, seeds and settings (`python -m ghostjax.sweep`).

  spec.py     sweep TOML schema, grid / list expansion into cells
  kinds.py    the SweepKind base (BatchedKind: the vmapped, sharded, padded batch runner;
              TrainingKind: one trained network per cell, resumable) and the registry of kinds:
              exact.py (exact-score census and gaps), guidance.py (guided class sampling),
              learned.py and hallucination.py (trained nets, through the studies' cell functions)
  mesh.py     jax.distributed start-up, the ("cells", "particles") mesh, compilation cache
  runner.py   shape groups, padded batches, resume, progress
  table.py    the results table (CSV and JSON, atomic)
  figures.py  summary figures (metric vs D, one line per setting, seed spread)
"""
