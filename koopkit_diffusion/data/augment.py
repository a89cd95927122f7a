"""EDM's non-leaking geometric augmentation, with the 9 augmentation labels the network sees.

Karras et al. 2022 (Appendix F.2) train the CIFAR-10, FFHQ and AFHQv2 models with the geometric
part of the ADA pipeline (Karras et al. 2020): x-flip, y-flip, isotropic scaling, rotation,
anisotropic scaling and fractional translation, each applied with probability ``p`` (the x-flip
always draws a fair coin). The transform's parameters are given to the network as a 9-d
conditioning vector (``augment_dim = 9``), so that it learns the data and the augmentations apart
and is sampled with the vector at zero (no augmentation): the augmentations do not leak into the
samples.

The 9 labels, in EDM's order: ``[xflip, yflip, scale, cos(θ) − 1, sin(θ), a·cos(φ), a·sin(φ),
t_x, t_y]`` with ``scale`` and ``a`` the standard-normal draws behind the log2 scale factors
(std 0.2), ``θ`` the rotation angle, ``φ`` the frame of the anisotropic scaling and ``t`` the
translation in units of 0.125 of the image size. The resampling is bilinear with reflected
borders; EDM's pipeline instead supersamples 2× with a wavelet filter, which differs only in
the anti-aliasing of the warp.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["AUGMENT_DIM", "edm_augment"]

#: Size of the augmentation-label vector (EDM's ``augment_dim``).
AUGMENT_DIM = 9
_SCALE_STD = 0.2  # log2 std of the isotropic scaling
_ANISO_STD = 0.2  # log2 std of the anisotropic scaling
_ANISO_ROTATE_PROB = 0.5  # probability of scaling in a rotated frame
_TRANSLATE_STD = 0.125  # std of the translation, relative to the image size


def _matrices(theta: torch.Tensor) -> torch.Tensor:
    """Rotations by ``theta`` (batch,) as (batch, 2, 2)."""
    c, s = theta.cos(), theta.sin()
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def edm_augment(
    images: torch.Tensor, p: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch as EDM does and return the augmentation labels.

    Parameters
    ----------
    images : torch.Tensor of shape (batch, C, H, W), floating point
    p : float
        Probability of each transform (EDM: 0.12 for CIFAR-10, 0.15 for FFHQ and AFHQv2).
    generator : torch.Generator, optional
        Source of the random draws (on ``images``' device).

    Returns
    -------
    images : torch.Tensor of shape (batch, C, H, W)
    labels : torch.Tensor of shape (batch, 9), float32
        See the module docstring; all zero for an image left as it was.
    """
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(
            f"images must be a float tensor of shape (batch, C, H, W), got {tuple(images.shape)} "
            f"{images.dtype}"
        )
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"the augmentation probability p must lie in [0, 1], got {p}")
    n, _, h, w = images.shape
    kw = {"device": images.device, "generator": generator}

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, **kw)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, **kw)

    def gate(value: torch.Tensor, prob: float) -> torch.Tensor:
        """``value`` where a coin of probability ``prob`` comes up, else 0."""
        return torch.where(rand(n) < prob, value, torch.zeros_like(value))

    xflip = torch.randint(2, (n,), **kw).float()  # EDM's multiplier 1e8: always a fair coin
    yflip = gate(torch.randint(2, (n,), **kw).float(), p)
    images = torch.where(xflip[:, None, None, None] == 1, images.flip(3), images)
    images = torch.where(yflip[:, None, None, None] == 1, images.flip(2), images)

    scale = gate(randn(n), p)
    theta = gate((rand(n) * 2 - 1) * math.pi, p)
    aniso = gate(randn(n), p)
    phi = (rand(n) * 2 - 1) * math.pi
    phi = torch.where(rand(n) < _ANISO_ROTATE_PROB, phi, torch.zeros_like(phi))
    shift = randn(2, n)
    shift = torch.where(rand(1, n) < p, shift, torch.zeros_like(shift))
    labels = torch.stack(
        [xflip, yflip, scale, theta.cos() - 1, theta.sin(), aniso * phi.cos(), aniso * phi.sin(),
         shift[0], shift[1]],
        dim=1,
    )  # fmt: skip
    moved = (scale != 0) | (theta != 0) | (aniso != 0) | (shift != 0).any(0)
    if not bool(moved.any()):
        return images, labels.float()

    # The inverse map from output pixels to source pixels (pixel units, centred):
    # x_src = S_iso⁻¹ · R(θ) · [R(−φ) · S_aniso⁻¹ · R(φ)] · (x_out − t), as EDM composes it.
    s_iso = torch.exp2(-_SCALE_STD * scale)
    s_an = torch.exp2(_ANISO_STD * aniso)
    aniso_inv = torch.diag_embed(torch.stack([1 / s_an, s_an], -1))
    g_inv = s_iso[:, None, None] * _matrices(theta) @ _matrices(-phi) @ aniso_inv @ _matrices(phi)
    t = torch.stack([shift[0] * w * _TRANSLATE_STD, shift[1] * h * _TRANSLATE_STD], -1)
    offset = -(g_inv @ t[:, :, None])[:, :, 0]
    # Pixel units to grid_sample's normalised units (align_corners=False: ±1 at the borders).
    half = torch.tensor([w / 2, h / 2], device=images.device)
    theta_grid = torch.cat(
        [g_inv * half[None, None, :] / half[None, :, None], (offset / half)[:, :, None]], dim=2
    )
    grid = F.affine_grid(theta_grid.to(images.dtype), list(images.shape), align_corners=False)
    warped = F.grid_sample(
        images, grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )
    images = torch.where(moved[:, None, None, None], warped, images)
    return images, labels.float()
