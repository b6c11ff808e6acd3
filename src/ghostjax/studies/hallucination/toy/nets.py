"""The study's networks by name (nets.NETS kinds), all ε-preconditioned (DDPM ε-prediction):

  aithal           nets.AithalMLP; blocks 'shared' (one block applied `depth` times, as Aithal et
                   al.'s code does) or 'independent'; model.t_proj: their Linear + LeakyReLU on the
                   noise embedding before the blocks
  fourier_aithal   nets.FourierAithal: the same body fed [x, sin 2πBx, cos 2πBx] with a fixed random B
  factorized       nets.FactorizedNet (output i sees x_i only: ghosts task)
  joint            nets.JointMLP
"""

from __future__ import annotations

from typing import Callable

from jaxtyping import PRNGKeyArray

from ....nets import AbstractScoreNet, make_net
from .config import Model

# kind -> the study's extra arguments of that network (from [model] and the block variant)
EXTRA: dict[str, Callable[[Model, str], dict]] = {
    "aithal": lambda m, blocks: {"shared_blocks": blocks == "shared", **({"t_proj": True} if m.t_proj else {})},
    "fourier_aithal": lambda m, blocks: {"features": m.fourier_features, "scale": m.fourier_scale},
}


def build_net(m: Model, dim: int, *, key: PRNGKeyArray, kind: str | None = None, blocks: str = "shared",
              width: int | None = None, depth: int | None = None, t_proj: bool | None = None) -> AbstractScoreNet:
    """The network `kind` (default m.kind) with [model]'s hyperparameters, overridable per variant."""
    kind = kind or m.kind
    m = m if t_proj is None else m.model_copy(update={"t_proj": t_proj})
    extra = EXTRA.get(kind, lambda m, blocks: {})(m, blocks)
    return make_net(kind, dim, key=key, width=width or m.width, depth=depth or m.depth, embed_dim=m.embed_dim,
                    precond="eps", **extra)
