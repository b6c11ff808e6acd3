"""Networks by name: `NETS` maps the kinds used in config files to classes, and `make_net` builds one
from names and hyperparameters (the config edge: the only place network names are looked up)."""

from __future__ import annotations

import functools
import inspect

import equinox as eqx
from jaxtyping import PRNGKeyArray

from .._xla import options_for_backend

from .aithal import AithalMLP, FourierAithal
from .base import AbstractScoreNet
from .embedding import EMBEDDINGS
from .mlps import FactorizedNet, JointMLP, PooledNet
from .precond import PRECONDS
from .unet import UNet

NETS: dict[str, type[AbstractScoreNet]] = {
    "joint": JointMLP, "factorized": FactorizedNet, "pooled": PooledNet, "aithal": AithalMLP, "fourier_aithal": FourierAithal, "unet": UNet,
}
NAMED = {"embed": ("embedding", EMBEDDINGS), "precond": ("precond", PRECONDS)}  # name arguments -> classes


def _lookup(table: dict, what: str, name: str):
    if name not in table:
        raise ValueError(f"{what}: expected one of {', '.join(table)}, got {name!r}")
    return table[name]


def net_arguments(kind: str) -> tuple[str, ...]:
    """The keyword arguments `make_net(kind, ...)` accepts besides dim and key."""
    cls = _lookup(NETS, "model kind", kind)
    params = set(inspect.signature(cls.__init__).parameters) - {"self", "dim", "key"}
    return tuple(sorted(params | {n for n, (field, _) in NAMED.items() if field in params}))


def make_net(kind: str, dim: int, *, key: PRNGKeyArray, **hyper) -> AbstractScoreNet:
    """Build a network by kind ('joint', 'factorized', 'pooled', 'aithal', 'unet') with its hyperparameters:
    the class's own keyword arguments, where `embed` ('sinusoidal', 'fourier') and `precond`
    ('edm', 'eps') may name the embedding and preconditioning classes. A keyword the kind does not
    take raises ValueError naming it. Initialisation is one compiled call per (kind, dim, hyper)."""
    accepted = net_arguments(kind)
    for name in hyper:
        if name not in accepted:
            raise ValueError(f"{name}: not an argument of model kind {kind!r} (it takes {', '.join(accepted)})")
    for name, (field, table) in NAMED.items():
        if isinstance(hyper.get(name), str):
            hyper[field] = _lookup(table, name, hyper.pop(name))
    hyper = {k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()}  # TOML arrays: hashable
    return _builder(NETS[kind], int(dim), tuple(sorted(hyper.items())))(key)


@functools.lru_cache(maxsize=128)
def _builder(cls: type[AbstractScoreNet], dim: int, hyper: tuple):
    """A jitted constructor per (class, dim, hyperparameters): initialising weights is one compiled
    call instead of one small compilation per eager random op (seeds then reuse it). A class with
    `INIT_CPU_OPTIONS` compiles it with those XLA options on the CPU (the UNet: see there)."""
    opts = options_for_backend(getattr(cls, "INIT_CPU_OPTIONS", {})) or None
    return eqx.filter_jit(lambda key: cls(dim, key=key, **dict(hyper)), compiler_options=opts)
