"""The study's networks by name (nets.NETS kinds), all ε-preconditioned (DDPM ε-prediction):

  aithal           nets.AithalMLP; blocks 'shared' (one block applied `depth` times, as Aithal et
                   al.'s code does) or 'independent'; model.t_proj: their Linear + LeakyReLU on the
                   noise embedding before the blocks
  fourier_aithal   nets.FourierAithal: the same body fed [x, sin 2πBx, cos 2πBx] with a fixed random B
  factorized       nets.FactorizedNet (output i sees x_i only: ghosts task)
  joint            nets.JointMLP

and the recipes (model.recipe, `RECIPES`): whose code a network and its training follow.
  ours     equinox's initialisation (weights and biases U(±1/√fan_in)), biases in the block linears,
           the ¼ ln σ embedding, batches drawn with replacement from the training set
  aithal   the authors' public code (locuslab/diffusion-model-hallucination, ddpm_torch/toy):
           Xavier-uniform weights and zero biases (nets.aithal.xavier_init), no block biases, their
           step-index embedding (nets.aithal.StepEmbedding), their t_proj, and the training set walked
           in its N // B consecutive blocks of B rows in order (fitting.WalkedBatches); their t_proj,
           all 1000 DDPM levels and their grid are config keys that config.Config checks.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
from jaxtyping import PRNGKeyArray

from ....nets import AbstractScoreNet, make_net
from ....nets.aithal import StepEmbedding, xavier_init
from .config import RECIPE_NAMES, Model


def _keep(net: AbstractScoreNet, *, key: PRNGKeyArray) -> AbstractScoreNet:
    del key
    return net


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How the study builds and trains a network.

    init: (net, *, key) -> net, applied to the built network (its re-initialisation);
    net_args: extra AithalMLP arguments; walk_batches: train on a fixed training set walked in
    consecutive blocks (fitting.WalkedBatches) instead of drawing with replacement."""

    init: Callable[..., AbstractScoreNet]
    net_args: tuple[tuple[str, object], ...]
    walk_batches: bool


RECIPES: dict[str, Recipe] = {
    "ours": Recipe(init=_keep, net_args=(), walk_batches=False),
    "aithal": Recipe(init=xavier_init, net_args=(("block_bias", False), ("embedding", StepEmbedding)),
                     walk_batches=True),
}
assert tuple(RECIPES) == RECIPE_NAMES

# kind -> the study's extra arguments of that network (from [model] and the block variant)
EXTRA: dict[str, Callable[[Model, str], dict]] = {
    "aithal": lambda m, blocks: {"shared_blocks": blocks == "shared", **({"t_proj": True} if m.t_proj else {}),
                                 **dict(RECIPES[m.recipe].net_args)},
    "fourier_aithal": lambda m, blocks: {"features": m.fourier_features, "scale": m.fourier_scale},
}


def build_net(m: Model, dim: int, *, key: PRNGKeyArray, kind: str | None = None, blocks: str = "shared",
              width: int | None = None, depth: int | None = None, t_proj: bool | None = None) -> AbstractScoreNet:
    """The network `kind` (default m.kind) with [model]'s hyperparameters, overridable per variant,
    initialised as m.recipe says (the recipe's init draws from fold_in(key, 1))."""
    kind = kind or m.kind
    m = m if t_proj is None else m.model_copy(update={"t_proj": t_proj})
    extra = EXTRA.get(kind, lambda m, blocks: {})(m, blocks)
    net = make_net(kind, dim, key=key, width=width or m.width, depth=depth or m.depth, embed_dim=m.embed_dim,
                   precond="eps", **extra)
    return RECIPES[m.recipe].init(net, key=jax.random.fold_in(key, 1))
