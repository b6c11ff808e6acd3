"""Equinox score networks with one call signature: net(x [D], σ) -> score [D].

  base.py       AbstractScoreNet: preconditioning around a body F(x_in [D], emb [E]) -> [D]
  precond.py    EDMPrecond(σ_d), EpsPrecond(): inputs, score and denoiser from F
  embedding.py  SinusoidalEmbedding, FourierEmbedding of c_noise = ¼ ln σ
  layers.py     dense, mlp_apply, layer_norm: equinox layers with the batch leading under vmap
  mlps.py       JointMLP, FactorizedNet (exactly diagonal Jacobian), PooledNet
  aithal.py     AithalMLP (Aithal et al. 2024)
  unet.py       UNet: attention-free DDPM UNet on grayscale images (per-example [D] = image_size²)
  registry.py   NETS {kind: class} and make_net(kind, dim, *, key, **hyper)
"""

from .aithal import AithalBlock, AithalMLP, FourierAithal
from .base import AbstractScoreNet
from .embedding import EMBEDDINGS, AbstractEmbedding, FourierEmbedding, SinusoidalEmbedding
from .layers import dense, layer_norm, mlp_apply
from .mlps import FACTORIZED_MODES, FactorizedNet, JointMLP, PooledNet
from .precond import PRECONDS, AbstractPrecond, EDMPrecond, EpsPrecond
from .registry import NETS, make_net, net_arguments
from .unet import UNet

__all__ = [
    "AbstractScoreNet", "JointMLP", "FactorizedNet", "PooledNet", "AithalMLP", "AithalBlock", "FourierAithal", "UNet",
    "AbstractPrecond", "EDMPrecond", "EpsPrecond", "AbstractEmbedding", "SinusoidalEmbedding",
    "FourierEmbedding", "NETS", "PRECONDS", "EMBEDDINGS", "FACTORIZED_MODES", "make_net", "net_arguments",
    "dense", "mlp_apply", "layer_norm",
]
