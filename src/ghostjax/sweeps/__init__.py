"""Sweeps over dimensions, seeds and settings (`python -m ghostjax.sweep`).

  spec.py     sweep TOML schema, grid / list expansion into cells
  kinds.py    registry of cell kinds (exact.py: exact-score census and gaps; learned.py: trained nets)
  mesh.py     jax.distributed start-up, the ("cells", "particles") mesh, compilation cache
  runner.py   shape groups, padded batches, resume, progress
  table.py    the results table (CSV and JSON, atomic)
  figures.py  summary figures (metric vs D, one line per setting, seed spread)
"""
