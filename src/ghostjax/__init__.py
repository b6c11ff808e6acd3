"""ghostjax: a JAX engine for what a score function's structure does to diffusion sampling."""

from . import guidance, observers, processes
from .distributions import AbstractDistribution, AbstractMixture
from .integrate import SampleResult, prior, sample
from .fullcov import FullCovMixture
from .losses import Loss
from .metrics.census import census
from .mixtures import GaussianMixture, all_corners, random_corners
from .nets import AbstractScoreNet, AithalMLP, EDMPrecond, EpsPrecond, FactorizedNet, JointMLP, PooledNet, UNet, make_net
from .observers import Histogram, Mean, Moments, Observer, Quantiles, Window
from .solvers import DDPM, AbstractSolver, EulerMaruyama, OdeEuler, OdeHeun, Solver, solver_from_name
from .training import Optim, fit
from .processes import (
    DDPMGrid,
    EDMGrid,
    GeometricGrid,
    Grid,
    ddpm_grid,
    edm_grid,
    geometric_grid,
    sigmas_from_betas,
    ve_sigma,
    vp_alpha,
    vp_score,
)

__version__ = "0.1.0"

__all__ = [
    "AbstractDistribution", "AbstractMixture", "GaussianMixture", "FullCovMixture", "all_corners", "random_corners",
    "census",
    "sample", "prior", "SampleResult",
    "AbstractSolver", "EulerMaruyama", "OdeEuler", "OdeHeun", "DDPM", "Solver", "solver_from_name",
    "Observer", "Mean", "Moments", "Quantiles", "Histogram", "Window",
    "GeometricGrid", "EDMGrid", "DDPMGrid", "Grid", "geometric_grid", "edm_grid", "ddpm_grid", "sigmas_from_betas", "vp_alpha", "ve_sigma", "vp_score",
    "AbstractScoreNet", "JointMLP", "FactorizedNet", "PooledNet", "AithalMLP", "UNet", "EDMPrecond", "EpsPrecond",
    "make_net", "Loss", "Optim", "fit",
    "guidance", "observers", "processes",
]
