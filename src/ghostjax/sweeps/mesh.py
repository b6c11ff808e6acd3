"""Devices, hosts and compilation: jax.distributed start-up, the ("cells", "particles") mesh,
global input arrays, and the persistent compilation cache.

Every process runs the same program over the global mesh (all devices of all processes); inputs
are built with `jax.make_array_from_callback` from the same host values on every process, and
outputs are replicated, so each process can read them (process 0 writes).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from ..config import ConfigError

CLUSTER_ENV = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


def _env_int(var: str) -> int | None:
    text = os.environ.get(var, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{var}: expected an integer, got {text!r}") from None


def wants_distributed(coordinator: str | None, num_processes: int | None) -> bool:
    """True when flags or the environment (JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES > 1, or a
    SLURM / Open MPI / PMI job of more than one task) ask for a multi-process run."""
    if coordinator or (num_processes or 1) > 1 or os.environ.get("JAX_COORDINATOR_ADDRESS"):
        return True
    return any((_env_int(v) or 1) > 1 for v in CLUSTER_ENV + ("JAX_NUM_PROCESSES",))


def init_distributed(coordinator: str | None, num_processes: int | None, process_id: int | None) -> None:
    """jax.distributed.initialize with the given values; None: JAX_NUM_PROCESSES / JAX_PROCESS_ID
    when set, and what JAX itself reads (JAX_COORDINATOR_ADDRESS; SLURM, Open MPI, ... jobs).
    On CPU the collectives go through gloo. Must run before anything touches a device."""
    if jax.config.jax_platforms in (None, "", "cpu") or os.environ.get("JAX_PLATFORMS", "") == "cpu":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    num_processes = num_processes if num_processes is not None else _env_int("JAX_NUM_PROCESSES")
    process_id = process_id if process_id is not None else _env_int("JAX_PROCESS_ID")
    kw = {}
    if coordinator:
        kw["coordinator_address"] = coordinator
    if num_processes is not None:
        kw["num_processes"] = num_processes
    if process_id is not None:
        kw["process_id"] = process_id
    jax.distributed.initialize(**kw)


def enable_cache(path: str | Path) -> Path:
    """Turn on JAX's persistent compilation cache in `path` (every program is cached, however fast
    it compiled), so a rerun of the same shapes loads the executables instead of compiling."""
    path = Path(path).resolve()
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def cells_axis(n_devices: int, batch: int, requested: int = 0) -> int:
    """Size of the mesh's cell axis: `requested` (must divide the device count), else the largest
    divisor of the device count not above `batch` (cells first: they need no communication)."""
    if requested:
        if n_devices % requested:
            raise ConfigError(f"run.mesh_cells: must divide the device count {n_devices}, got {requested}")
        return requested
    return max(c for c in range(1, n_devices + 1) if n_devices % c == 0 and c <= max(batch, 1))


def make_mesh(n_cells_axis: int) -> Mesh:
    """A ("cells", "particles") mesh over all devices of all processes."""
    n = jax.device_count()
    auto = (jax.sharding.AxisType.Auto,) * 2
    return jax.make_mesh((n_cells_axis, n // n_cells_axis), ("cells", "particles"), axis_types=auto)


def batch_size(n_cells: int, batch_cells: int, n_cells_axis: int) -> int:
    """Cells per compiled call for a shape group of n_cells: at most batch_cells, balanced so the
    group splits into equal batches, rounded up to a multiple of the cell axis (short batches are
    padded with copies of their last cell)."""
    b = max(1, min(batch_cells, n_cells))
    k = math.ceil(n_cells / b)
    b = math.ceil(n_cells / k)
    return int(math.ceil(b / n_cells_axis) * n_cells_axis)


def global_array(host: np.ndarray, sharding: NamedSharding) -> jax.Array:
    """A global jax.Array with `sharding` from a host array every process holds in full."""
    host = np.asarray(host)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def cell_sharding(mesh: Mesh, ndim: int = 1) -> NamedSharding:
    """Leading axis over "cells", the rest replicated."""
    return NamedSharding(mesh, P("cells", *([None] * (ndim - 1))))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())
