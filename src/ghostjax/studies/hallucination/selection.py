"""Selection rules of recursive training (Aithal et al. §6), shared by the theme's studies (the toy's
and the Simple Shapes' recursive tasks): from N = n + m draws of a generation, with their detector
scores, keep the n that train the next generation.

  none      the first n draws (no selection; distributed as `random`, so the two are replicates)
  random    n of the N draws at random, without repeats (indices sorted)
  variance  the n draws with the lowest trajectory variance (the detector), as their filter does

Each rule is a class naming itself once (`name`); `RULES` maps the names to the rules (the config
types list `RULE_NAMES`) and `select(name, score, n, key=...)` applies one.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import jax
import numpy as np
from jaxtyping import ArrayLike, Float, Int

from ...metrics import hallucination as hm


class SelectionRule(abc.ABC):
    """Keeps n of N draws: `__call__(score [N], n, key=...)` -> the kept indices int [n]."""

    name: ClassVar[str]

    @abc.abstractmethod
    def __call__(self, score: Float[ArrayLike, " N"], n: int, *, key: jax.Array) -> Int[np.ndarray, " n"]:
        ...


class KeepFirst(SelectionRule):
    """The first n draws (the scores and key are not read)."""

    name = "none"

    def __call__(self, score, n, *, key):
        return np.arange(n)


class KeepRandom(SelectionRule):
    """n of the N draws uniformly at random without repeats (jax.random.choice with `key`), sorted."""

    name = "random"

    def __call__(self, score, n, *, key):
        return np.sort(np.asarray(jax.random.choice(key, np.shape(score)[0], (n,), replace=False)))


class KeepLowest(SelectionRule):
    """The n draws of lowest score (ties in index order: metrics.hallucination.select_lowest)."""

    name = "variance"

    def __call__(self, score, n, *, key):
        return hm.select_lowest(score, n)


RULES: dict[str, SelectionRule] = {r.name: r for r in (KeepFirst(), KeepRandom(), KeepLowest())}
RULE_NAMES = tuple(RULES)


def select(rule: str, score: Float[ArrayLike, " N"], n: int, *, key: jax.Array) -> Int[np.ndarray, " n"]:
    """Indices of the n of the N draws (detector scores `score` [N]) that rule `rule` keeps; `key`
    draws the random rule's subset."""
    if not 0 <= n <= np.shape(score)[0]:
        raise ValueError(f"n: must lie in [0, {np.shape(score)[0]}], got {n}")
    return RULES[rule](score, n, key=key)
