"""Networks for EDM denoisers and KDM encoders/decoders.

:class:`MLPNet` for vectors (2-D toy data) and :class:`UNet`, a DDPM++-style UNet for images.
Both are called as ``net(x, noise_labels=None, class_labels=None)``; wrap them in
:class:`koopkit_diffusion.edm.precond.EDMPrecond` to get a denoiser.
"""

from .mlp import MLPNet
from .unet import UNet

__all__ = ["MLPNet", "UNet"]
