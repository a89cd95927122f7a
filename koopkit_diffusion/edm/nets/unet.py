"""DDPM++-style UNet (Song et al. 2021), configured as in EDM (Karras et al. 2022, Appendix F.2).

The module tree mirrors EDM's ``SongUNet`` (DDPM++: positional embedding, standard encoder and
decoder): ``map_noise``, ``map_label``, ``map_augment``, ``map_layer0/1``, ``enc[<res>_conv |
<res>_down | <res>_block<i>]``, ``dec[<res>_in0/in1 | <res>_up | <res>_block<i> | <res>_aux_norm
| <res>_aux_conv]``, and every layer holds the tensors of EDM's layer of the same name with the
same shapes: importing an EDM network is a renaming (``model.`` → ``net.``), see
:mod:`koopkit_diffusion.teacher.edm_import`. The CIFAR-10 configuration (``model_channels=128``,
``channel_mult=(2, 2, 2)``, ``num_blocks=4``, ``attn_resolutions=(16,)``, ``augment_dim=9``,
32×32×3, unconditional) has EDM's 55,733,891 parameters (checked by a test).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..labels import one_hot
from .layers import (
    Conv2d,
    FourierEmbedding,
    PositionalEmbedding,
    UNetBlock,
    group_norm,
    linear,
)

__all__ = ["UNet"]


class UNet(nn.Module):
    """DDPM++ UNet: encoder of residual blocks, a bottleneck with attention, decoder with skips.

    Per level ``l`` (resolution ``R/2^l``) the encoder has a down-sampling block (at level 0 a 3×3
    convolution lifting the input to ``model_channels``) and ``num_blocks`` residual blocks with
    ``model_channels·channel_mult[l]`` channels; every encoder output is kept as a skip. The
    decoder mirrors it with ``num_blocks + 1`` blocks per level that each concatenate one skip, an
    up-sampling block between levels and two bottleneck blocks (the first with attention) at the
    lowest resolution. Attention is used in blocks whose resolution is in ``attn_resolutions``
    (in the decoder, only the last block of the level). The output is GroupNorm + SiLU + 3×3 conv.

    The noise level enters as ``emb = SiLU(L1(SiLU(L0(embed(c_noise) + L(y) + A(a)))))``
    (positional or Fourier embedding with its sine and cosine halves swapped as in ``SongUNet``,
    class labels ``y`` scaled by ``√label_dim`` through a linear map, EDM's augmentation labels
    ``a`` through a bias-free linear map), which every block adds after its first convolution.
    With ``noise_labels=None`` the embedding of the noise level is left out (the network is then
    unconditional in time; used as a KDM encoder/decoder); without ``augment_labels`` the
    augmentation term is left out, which is EDM's sampling-time behaviour (labels at zero).

    **Resolutions**: ``R`` must be a multiple of ``2^(len(channel_mult) − 1)`` to down-sample
    exactly; otherwise the input is zero-padded symmetrically to the next such multiple inside the
    network and the output is cropped back (28×28 with 4 levels runs at 32×32; with 3 levels
    28 → 14 → 7 works directly). ``attn_resolutions`` refer to the internal (padded) resolutions.

    Parameters
    ----------
    img_resolution : int
        Height = width ``R`` of the input.
    in_channels, out_channels : int
    model_channels : int, default 128
        Base width; must give GroupNorm at least 4 channels per group.
    channel_mult : tuple of int, default (2, 2, 2)
        Width multiplier per level.
    num_blocks : int, default 4
        Residual blocks per encoder level.
    attn_resolutions : tuple of int, default (16,)
    dropout : float, default 0.0
        Dropout inside the residual blocks (EDM uses 0.13 for CIFAR-10).
    label_dim : int, default 0
        Number of classes (0: unconditional).
    augment_dim : int, default 0
        Size of EDM's augmentation-label vector (9 when training with
        :func:`~koopkit_diffusion.data.augment.edm_augment`; 0: no augmentation map).
    embedding_type : {"positional", "fourier"}, default "positional"
    channel_mult_noise : int, default 1
        Noise embedding size ``model_channels·channel_mult_noise``.
    channel_mult_emb : int, default 4
        Block embedding size ``model_channels·channel_mult_emb``.
    resample_filter : tuple of int, default (1, 1)
        FIR filter of the resampling (``(1, 1)``: box / nearest; ``(1, 3, 3, 1)``: NCSN++).

    Examples
    --------
    >>> net = UNet(32, 3, 3, model_channels=32, channel_mult=(1, 2), num_blocks=1)
    >>> net(torch.randn(2, 3, 32, 32), torch.zeros(2)).shape
    torch.Size([2, 3, 32, 32])
    """

    def __init__(
        self,
        img_resolution: int,
        in_channels: int,
        out_channels: int,
        model_channels: int = 128,
        channel_mult: tuple[int, ...] = (2, 2, 2),
        num_blocks: int = 4,
        attn_resolutions: tuple[int, ...] = (16,),
        dropout: float = 0.0,
        label_dim: int = 0,
        augment_dim: int = 0,
        embedding_type: str = "positional",
        channel_mult_noise: int = 1,
        channel_mult_emb: int = 4,
        resample_filter: tuple[int, ...] = (1, 1),
    ) -> None:
        super().__init__()
        if img_resolution < 1 or in_channels < 1 or out_channels < 1:
            raise ValueError(
                "img_resolution, in_channels and out_channels must be positive, got "
                f"{img_resolution}, {in_channels}, {out_channels}"
            )
        if len(channel_mult) < 1 or num_blocks < 1 or model_channels < 4:
            raise ValueError(
                "need at least one level, one block and model_channels >= 4, got "
                f"channel_mult={channel_mult}, num_blocks={num_blocks}, "
                f"model_channels={model_channels}"
            )
        if embedding_type not in ("positional", "fourier"):
            raise ValueError(
                f"embedding_type must be 'positional' or 'fourier', got {embedding_type!r}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.img_resolution, self.in_channels = img_resolution, in_channels
        self.out_channels, self.label_dim = out_channels, label_dim
        self.augment_dim = augment_dim
        factor = 2 ** (len(channel_mult) - 1)
        self.internal_resolution = math.ceil(img_resolution / factor) * factor
        emb_channels = model_channels * channel_mult_emb
        noise_channels = model_channels * channel_mult_noise
        block = dict(emb_channels=emb_channels, dropout=dropout, resample_filter=resample_filter)

        if embedding_type == "positional":
            self.map_noise = PositionalEmbedding(noise_channels)
        else:
            self.map_noise = FourierEmbedding(noise_channels)
        self.map_label = linear(label_dim, noise_channels) if label_dim else None
        self.map_augment = linear(augment_dim, noise_channels, bias=False) if augment_dim else None
        self.map_layer0 = linear(noise_channels, emb_channels)
        self.map_layer1 = linear(emb_channels, emb_channels)
        self.noise_channels = noise_channels

        self.enc = nn.ModuleDict()
        cout = in_channels
        for level, mult in enumerate(channel_mult):
            res = self.internal_resolution >> level
            if level == 0:
                self.enc[f"{res}x{res}_conv"] = Conv2d(cout, model_channels, 3)
                cout = model_channels
            else:
                self.enc[f"{res}x{res}_down"] = UNetBlock(cout, cout, down=True, **block)
            for idx in range(num_blocks):
                cin, cout = cout, model_channels * mult
                attn = res in attn_resolutions
                self.enc[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, attention=attn, **block)
        skips = [m.out_channels for m in self.enc.values()]

        self.dec = nn.ModuleDict()
        for level, mult in reversed(list(enumerate(channel_mult))):
            res = self.internal_resolution >> level
            if level == len(channel_mult) - 1:
                self.dec[f"{res}x{res}_in0"] = UNetBlock(cout, cout, attention=True, **block)
                self.dec[f"{res}x{res}_in1"] = UNetBlock(cout, cout, **block)
            else:
                self.dec[f"{res}x{res}_up"] = UNetBlock(cout, cout, up=True, **block)
            for idx in range(num_blocks + 1):
                cin, cout = cout + skips.pop(), model_channels * mult
                attn = idx == num_blocks and res in attn_resolutions
                self.dec[f"{res}x{res}_block{idx}"] = UNetBlock(cin, cout, attention=attn, **block)
        res = self.internal_resolution
        self.dec[f"{res}x{res}_aux_norm"] = group_norm(cout)
        self.dec[f"{res}x{res}_aux_conv"] = Conv2d(cout, out_channels, 3, gain=1e-5)

    def forward(
        self,
        x: torch.Tensor,
        noise_labels: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
        augment_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Apply the network.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, in_channels, R, R)
        noise_labels : torch.Tensor of shape (batch,), optional
            Noise conditioning (``c_noise`` in EDM); None: no time conditioning.
        class_labels : torch.Tensor of shape (batch,) (int) or (batch, label_dim), optional
        augment_labels : torch.Tensor of shape (batch, augment_dim), optional
            EDM's augmentation labels (training with augmentation); None at sampling time.

        Returns
        -------
        torch.Tensor of shape (batch, out_channels, R, R)
        """
        expected = (self.in_channels, self.img_resolution, self.img_resolution)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"x must have shape (batch, {', '.join(map(str, expected))}), got {tuple(x.shape)}"
            )
        batch = x.shape[0]
        emb = x.new_zeros(batch, self.noise_channels)
        if noise_labels is not None:
            noise = self.map_noise(noise_labels.reshape(batch)).to(x.dtype)
            emb = emb + noise.reshape(batch, 2, -1).flip(1).reshape(batch, -1)  # [sin, cos]
        labels = one_hot(class_labels, self.label_dim, batch, x, missing="none")
        if labels is not None:
            emb = emb + self.map_label(labels * math.sqrt(self.label_dim))
        if augment_labels is not None:
            if self.map_augment is None or augment_labels.shape != (batch, self.augment_dim):
                raise ValueError(
                    f"augment_labels of shape {tuple(augment_labels.shape)} given to a UNet with "
                    f"augment_dim={self.augment_dim}; expected ({batch}, {self.augment_dim})"
                )
            emb = emb + self.map_augment(augment_labels.to(x.dtype))
        emb = F.silu(self.map_layer1(F.silu(self.map_layer0(emb))))

        pad = self.internal_resolution - self.img_resolution
        if pad:
            x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
        skips = []
        for module in self.enc.values():
            x = module(x, emb) if isinstance(module, UNetBlock) else module(x)
            skips.append(x)
        for name, module in self.dec.items():
            if name.endswith("_aux_norm"):
                x = module(x)
            elif name.endswith("_aux_conv"):
                x = module(F.silu(x))
            else:
                if x.shape[1] != module.in_channels:
                    x = torch.cat([x, skips.pop()], dim=1)
                x = module(x, emb)
        if pad:
            x = x[
                ...,
                pad // 2 : pad // 2 + self.img_resolution,
                pad // 2 : pad // 2 + self.img_resolution,
            ]
        return x
