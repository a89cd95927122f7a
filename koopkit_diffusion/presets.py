"""Named KDM configurations: a model config plus a training config.

- ``checkerboard``: 2-D checkerboard, ReLU MLPs of width 256, latent 256, batch 4096, 20k steps,
  MSE, no adversary (Berman et al. 2025, 2-D experiments; ReLU was better than SiLU per step and
  per CPU-second here);
- ``digits``: 8×8 sklearn digits, class-conditional, small UNets (32 channels, two levels), MSE
  (use ``model.label_dim=0`` for unconditional pairs);
- ``cifar10-uncond``: three UNets (64 channels, mult (1, 2, 2, 2), 4 blocks, attention at 16),
  1 latent channel, dense operator with bias, LPIPS + adversary, Adam 3e-4, batch 128,
  EMA 0.9999, 800k steps (≈ 47.5M trainable, ≈ 32M on the sampling path);
- ``cifar10-cond``: the same, class-conditional (label embedding + control term ``B·y``);
- ``ffhq64``: 64×64, 32 channels, latent projected linearly to 512;
- ``afhqv2-64``: as ``ffhq64``.

Every field can be overridden by a string, as on the command line::

    get_preset("checkerboard", {"model.latent_dim": "128", "train.lr": "1e-3"})
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from koopkit_diffusion.kdm import KDMConfig
from koopkit_diffusion.trainer.config import TrainerConfig

__all__ = ["Preset", "PRESETS", "get_preset", "preset_names", "apply_overrides", "parse_value"]


@dataclass
class Preset:
    """A named configuration.

    Parameters
    ----------
    name : str
    description : str
    model : KDMConfig
    train : TrainerConfig
    """

    name: str
    description: str
    model: KDMConfig
    train: TrainerConfig = field(default_factory=TrainerConfig)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"name", "description", "model", "train"}``."""
        return {
            "name": self.name,
            "description": self.description,
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
        }


_CIFAR_MODEL = dict(
    data_shape=(3, 32, 32),
    network="unet",
    latent_dim=None,
    latent_channels=1,
    model_channels=64,
    channel_mult=(1, 2, 2, 2),
    num_blocks=4,
    attn_resolutions=(16,),
    operator="dense",
    operator_bias=True,
    sigma_z=0.4,
    loss="lpips",
    lpips_weights="weights/lpips",
    w_adv=1.0,
)
_CIFAR_TRAIN = dict(
    steps=800_000,
    batch_size=128,
    lr=3e-4,
    ema_decay=0.9999,
    amp="bf16",
    channels_last=True,  # bf16 convolutions without it are slower than fp32 (training guide)
    cudnn_benchmark=True,  # the setting the H200 measurements of this step were taken with
    log_every=100,
    checkpoint_every=10_000,
    sample_every=10_000,
)
_HIGHRES_MODEL = dict(_CIFAR_MODEL, data_shape=(3, 64, 64), model_channels=32, latent_dim=512)


def _build(name: str) -> Preset:
    if name == "checkerboard":
        return Preset(
            name,
            "2-D checkerboard (paper): MLPs width 256, latent 256, batch 4096, 20k steps, MSE",
            KDMConfig(
                data_shape=(2,),
                network="mlp",
                latent_dim=256,
                mlp_width=256,
                mlp_depth=3,
                activation="relu",
            ),
            TrainerConfig(
                steps=20_000,
                batch_size=4096,
                lr=1e-3,
                ema_decay=0.999,
                grad_clip=None,
                log_every=100,
                checkpoint_every=2000,
                sample_every=5000,
            ),
        )
    if name == "digits":
        return Preset(
            name,
            "8×8 digits, class-conditional: small UNets (32 ch, 2 levels, 1 latent channel)",
            KDMConfig(
                data_shape=(1, 8, 8),
                label_dim=10,
                network="unet",
                latent_dim=None,
                latent_channels=1,
                model_channels=32,
                channel_mult=(1, 2),
                num_blocks=1,
                attn_resolutions=(),
                loss="mse",
            ),
            TrainerConfig(
                steps=4000,
                batch_size=256,
                lr=1e-3,
                ema_decay=0.999,
                ema_warmup=True,  # short runs (--quick: 600 steps) would keep ~55 % of the init
                log_every=50,
                checkpoint_every=1000,
                sample_every=1000,
            ),
        )
    if name == "cifar10-uncond":
        return Preset(
            name,
            "CIFAR-10 unconditional, paper scale (3 UNets 64 ch, LPIPS + adversary, 800k steps)",
            KDMConfig(**_CIFAR_MODEL),
            TrainerConfig(**_CIFAR_TRAIN),
        )
    if name == "cifar10-cond":
        return Preset(
            name,
            "CIFAR-10 class-conditional, paper scale (label embedding + control term B·y)",
            KDMConfig(**_CIFAR_MODEL, label_dim=10),
            TrainerConfig(**_CIFAR_TRAIN),
        )
    if name in ("ffhq64", "afhqv2-64"):
        return Preset(
            name,
            f"{name}: 64×64, 3 UNets 32 ch, latent projected to 512, LPIPS + adversary",
            KDMConfig(**_HIGHRES_MODEL),
            TrainerConfig(**_CIFAR_TRAIN),
        )
    raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(preset_names())}")


PRESETS = ("checkerboard", "digits", "cifar10-uncond", "cifar10-cond", "ffhq64", "afhqv2-64")


def preset_names() -> tuple[str, ...]:
    """Names accepted by :func:`get_preset`."""
    return PRESETS


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def parse_value(text: str, annotation: Any, key: str = "value") -> Any:
    """Convert the string ``text`` to a value of the type ``annotation``.

    Supports ``int``, ``float``, ``bool`` (true/false/1/0/yes/no/on/off), ``str``, ``X | None``
    (``none`` or ``null``), ``tuple[int, ...]`` / ``tuple[float, float]`` (``"1,2,2"`` or
    ``"[1, 2, 2]"``; ``""`` or ``"()"`` for empty) and ``dict`` (JSON).

    Raises
    ------
    ValueError
        Naming ``key``, the expected type and the text.
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if text.strip().lower() in ("none", "null"):
            return None
        return parse_value(text, inner[0], key)
    try:
        if annotation is bool:
            low = text.strip().lower()
            if low in _TRUE | _FALSE:
                return low in _TRUE
            raise ValueError
        if annotation is int:
            return int(text)
        if annotation is float:
            return float(text)
        if annotation is str:
            return text
        if origin is tuple:
            body = text.strip().strip("()[]").strip()
            parts = [p.strip() for p in body.split(",") if p.strip()] if body else []
            elem = args[0] if args else str
            return tuple(parse_value(p, elem, key) for p in parts)
        if origin is dict or annotation is dict:
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError
            return value
    except ValueError:
        pass
    name = getattr(annotation, "__name__", str(annotation))
    raise ValueError(f"bad value for {key}: {text!r} is not a valid {name}")


def apply_overrides(preset: Preset, overrides: Mapping[str, str]) -> Preset:
    """Return a copy of ``preset`` with ``{"model.FIELD" | "train.FIELD": "text"}`` applied.

    Raises
    ------
    ValueError
        For an unknown section or field (listing the valid ones) or a value that does not parse
        or does not validate.
    """
    sections = {"model": preset.model, "train": preset.train}
    changes: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    for key, text in overrides.items():
        section, _, name = key.partition(".")
        if section not in sections or not name:
            raise ValueError(f"override key {key!r} must be 'model.FIELD' or 'train.FIELD'")
        cfg = sections[section]
        hints = typing.get_type_hints(type(cfg))
        fields = [f.name for f in dataclasses.fields(cfg)]
        if name not in fields:
            raise ValueError(
                f"unknown {section} field {name!r} in override {key!r}; valid: {', '.join(fields)}"
            )
        changes[section][name] = parse_value(str(text), hints[name], key)
    try:
        model = dataclasses.replace(preset.model, **changes["model"])
        train = dataclasses.replace(preset.train, **changes["train"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"invalid override for preset {preset.name!r}: {err}") from err
    return Preset(preset.name, preset.description, model, train)


def get_preset(name: str, overrides: Mapping[str, str] | None = None) -> Preset:
    """A fresh :class:`Preset` by name, with optional string overrides.

    Parameters
    ----------
    name : str
        One of :data:`PRESETS`.
    overrides : mapping of str to str, optional
        ``{"model.latent_dim": "128", "train.lr": "1e-3"}`` (see :func:`apply_overrides`).

    Returns
    -------
    Preset

    Raises
    ------
    ValueError
        Unknown preset (the message lists the valid names), unknown field or bad value.
    """
    preset = _build(name)
    return apply_overrides(preset, overrides) if overrides else preset
