"""DDPM ancestral sampling with a window of predicted x̂0, as Aithal et al. sample (shared by the
hallucination and shapes studies).

Sampler. DDPM ancestral steps with σ_t² = β_t (solvers.DDPM('beta')) down the linear-β grid of a
`Loss` (ddpm_T, ddpm_beta_start, ddpm_beta_end) in VE coordinates, no clipping of x̂0, and no noise
on the last step: the grid ends at σ_1 and `final_denoise` returns x + σ_1² s(x, σ_1), the predicted
x̂0 there (their posterior mean at t = 0). Steps with σ_t > sigma_cap (ᾱ_t < 1/sigma_cap²) are skipped:
there the VP state is N(0, 1) to that accuracy, and σ_t² would overflow float32 for Aithal et al.'s
toy schedule. Particles start from x = σ_start z. With `steps` > 0 the kept grid is respaced to
`steps` levels evenly spaced in t (always keeping σ_1), as improved-diffusion's timestep respacing:
the DDPM step between two kept levels uses β = 1 − ᾱ_t/ᾱ_t', so it is still the ancestral sampler.
With `tail` > 0 the last `tail` levels stay the original t = tail … 1 and only the levels above are
respaced (steps − tail of them): the detector's window of the last k ≤ tail levels then sees the
same steps as the full sampler's (with plain respacing, 10 of 100 levels span t ≈ 90 … 1).

Trajectory. `Window(window, 'x0')` keeps the predicted x̂0 = x + σ² s of the last `window` observed
steps; with the final output appended, the last k entries are the predicted x̂0 at the last k grid
levels (t = k … 1 without respacing, i.e. Aithal et al.'s t = k−1 … 0).
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .integrate import prior, sample
from .losses import Loss
from .observers import Window
from .processes import linear_betas, sigmas_from_betas
from .solvers import DDPM


def ddpm_sigmas(loss: Loss, sigma_cap: float, steps: int = 0, tail: int = 0) -> Float[Array, " m"]:
    """The DDPM σ_t (descending, t = t_max … 1) with σ_t ≤ sigma_cap, respaced to `steps` levels
    when steps > 0 (steps ≥ 2), the last `tail` of them (0 ≤ tail < steps) the original t = tail … 1;
    no final 0."""
    sig = np.asarray(sigmas_from_betas(linear_betas(loss.ddpm_T, loss.ddpm_beta_start, loss.ddpm_beta_end),
                                       include_zero=False, dtype=jnp.float64 if jax.config.jax_enable_x64 else None))
    keep = sig[sig <= sigma_cap]
    if keep.size < 2:
        raise ValueError(f"sigma_cap: keeps {keep.size} DDPM steps; raise it (σ_1 = {sig[-1]:.3g})")
    if steps:
        if steps < 2:
            raise ValueError(f"steps: a respaced grid needs at least 2 levels, got {steps}")
        if not 0 <= tail < steps:
            raise ValueError(f"tail: must be >= 0 and < steps ({steps}), got {tail}")
        n = min(steps, keep.size)
        tail = min(tail, n - 1)
        head = np.rint(np.linspace(0, keep.size - 1 - tail, n - tail)).astype(int)
        keep = keep[np.unique(np.concatenate([head, np.arange(keep.size - tail, keep.size)]))]
    return jnp.asarray(keep)


def draw(score: Callable, dim: int, n: int, *, key: PRNGKeyArray, loss: Loss, sigma_cap: float = 1e4,
         window: int = 10, steps: int = 0, tail: int = 0) -> tuple[Float[Array, "n D"], Float[Array, "k n D"]]:
    """n samples of `score` (x [D], σ -> [D]) through the sampler above, and their predicted-x̂0
    trajectories over the last `window` grid levels, [window, n, D] (oldest first; the last entry is
    the sample itself)."""
    if window < 2:
        raise ValueError(f"window: must be at least 2, got {window}")
    sig = ddpm_sigmas(loss, sigma_cap, steps, tail)
    k0, k1 = jax.random.split(key)
    x_init = prior(k0, n, dim, sig[0])
    out = sample(score, x_init, sig, key=k1, solver=DDPM("beta"), final_denoise=True,
                 observers={"x0": Window(window, "x0")})
    traj = jnp.concatenate([out.observations["x0"][1:], out.x[None]], axis=0)
    return out.x, traj
