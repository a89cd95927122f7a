"""Train a KDM (or the KD baseline) from a preset on a pair set, and load a finished run.

The run directory is the trainer's (``config.json``, ``metrics.jsonl``, ``checkpoints/``);
``config.json["metadata"]`` records what is needed to rebuild the model: the model kind
(``"kdm"`` or ``"kd"``), the preset name, the full :class:`~koopkit_diffusion.kdm.KDMConfig` and
the pair-set path.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from koopkit_diffusion.baseline import KDBaseline
from koopkit_diffusion.kdm import KDM, KDMConfig
from koopkit_diffusion.presets import Preset, get_preset

__all__ = ["MODEL_KINDS", "build_model", "train_model", "load_model", "sample_callback"]

logger = logging.getLogger(__name__)

MODEL_KINDS = ("kdm", "kd")


def build_model(config: KDMConfig, kind: str = "kdm", seed: int | None = None) -> KDM | KDBaseline:
    """A :class:`KDM` (``kind="kdm"``) or :class:`KDBaseline` (``kind="kd"``) from ``config``.

    With ``seed``, the initial weights are drawn from a generator seeded with it, and the global
    torch generator is left as it was; without, they come from the global generator's state.
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"model kind must be one of {MODEL_KINDS}, got {kind!r}")
    if seed is None:
        return KDM(config) if kind == "kdm" else KDBaseline(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(config, kind)


def _fit_to_pairs(config: KDMConfig, dataset: Any) -> KDMConfig:
    """Check the config against the pair set; take σmax from it (it is a property of the data)."""
    first = None if hasattr(dataset, "shape") else dataset[0]
    shape = tuple(dataset.shape) if first is None else tuple(first["sample"].shape)
    if shape != tuple(config.data_shape):
        raise ValueError(
            f"pair set samples have shape {shape} but the model expects {config.data_shape}; "
            "pick the preset that matches the pairs or set model.data_shape"
        )
    label_dim = getattr(dataset, "label_dim", None)
    if label_dim is None:  # a plain dataset: labels present or not
        label_dim = config.label_dim if "label" in (first or dataset[0]) else 0
    if config.label_dim and label_dim != config.label_dim:
        raise ValueError(
            f"conditional model (label_dim={config.label_dim}) needs pairs with {config.label_dim} "
            f"classes; the pair set has label_dim={label_dim}"
        )
    sigma_max = float(getattr(dataset, "sigma_max", config.sigma_max))
    if sigma_max != config.sigma_max:
        logger.info(
            "using the pair set's sigma_max=%g (config said %g)", sigma_max, config.sigma_max
        )
        config = dataclasses.replace(config, sigma_max=sigma_max)
    return config


def sample_callback(n: int = 2000, seed: int = 0):
    """An ``on_sample`` callback for the trainer: ``samples/step-XXXXXXXX.png`` in the run."""

    def on_sample(model: nn.Module, step: int, run_dir: Path) -> None:
        from koopkit_diffusion.teacher import plot_samples

        model = getattr(model, "module", model)  # an EMA wrapper holds the model as .module
        gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
        count = n if len(model.data_shape) == 1 else 100
        x = model.sample(count, generator=gen)
        (Path(run_dir) / "samples").mkdir(parents=True, exist_ok=True)
        plot_samples(
            x.cpu(), Path(run_dir) / "samples" / f"step-{step:08d}.png", title=f"step {step}"
        )

    return on_sample


def train_model(
    preset: Preset | str,
    pairs: str | os.PathLike | Any,
    out: str | os.PathLike,
    *,
    kind: str = "kdm",
    overrides: Mapping[str, str] | None = None,
    resume: bool | str = False,
    n_sample_points: int = 2000,
):
    """Train a KDM or the KD baseline with :class:`koopkit_diffusion.trainer.Trainer`.

    Parameters
    ----------
    preset : Preset or str
        A preset or its name (see :mod:`koopkit_diffusion.presets`).
    pairs : path or dataset
        A pair-set directory (opened as :class:`~koopkit_diffusion.pairs.PairDataset`) or any
        dataset of ``{"noise", "sample"[, "label"]}`` dicts (e.g.
        :class:`~koopkit_diffusion.trainer.TensorDictDataset`); its ``shape``, ``sigma_max``
        and ``label_dim`` attributes are used when present.
    out : path
        Run directory.
    kind : {"kdm", "kd"}, default "kdm"
    overrides : mapping of str to str, optional
        Preset overrides (``{"model.latent_dim": "128"}``).
    resume : bool or "auto", default False
        Passed to the trainer.
    n_sample_points : int, default 2000
        Points drawn for the 2-D sample figures (written every ``train.sample_every`` steps).

    Returns
    -------
    koopkit_diffusion.trainer.TrainResult

    Notes
    -----
    The initial weights are drawn from ``preset.train.seed`` (the trainer then seeds the training
    randomness from it too), so two calls with the same preset and pairs train the same model
    whatever ran before them in the process.
    """
    from koopkit_diffusion.pairs import PairDataset
    from koopkit_diffusion.trainer import train

    if isinstance(preset, str):
        preset = get_preset(preset, overrides)
    elif overrides:
        from koopkit_diffusion.presets import apply_overrides

        preset = apply_overrides(preset, overrides)
    dataset = PairDataset(pairs) if isinstance(pairs, (str, os.PathLike)) else pairs
    config = _fit_to_pairs(preset.model, dataset)
    # The initial weights are part of the run: draw them from ``train.seed``, not from whatever
    # state earlier work in this process left the global generator in.
    model = build_model(config, kind, seed=preset.train.seed)
    metadata = {
        "model_kind": kind,
        "preset": preset.name,
        "model_config": config.to_dict(),
        "pairs": str(pairs) if isinstance(pairs, (str, os.PathLike)) else type(pairs).__name__,
    }
    on_sample = sample_callback(n_sample_points) if preset.train.sample_every else None
    return train(
        model, dataset, preset.train, out, on_sample=on_sample, metadata=metadata, resume=resume
    )


def _lpips_available(folder: str | None) -> bool:
    from koopkit_diffusion.losses import LPIPS_LINEAR_FILE, LPIPS_TRUNK_FILE

    return folder is not None and all(
        (Path(folder) / f).is_file() for f in (LPIPS_TRUNK_FILE, LPIPS_LINEAR_FILE)
    )


def load_model(
    run_dir: str | os.PathLike,
    checkpoint: str | os.PathLike = "latest",
    map_location: Any = "cpu",
) -> KDM | KDBaseline:
    """Rebuild the model of a run and load its EMA weights (eval mode).

    Parameters
    ----------
    run_dir : path
        A run written by :func:`train_model` (or ``koopkit-diffusion train``).
    checkpoint : "latest" or path, default "latest"
    map_location : optional

    Returns
    -------
    KDM or KDBaseline
    """
    from koopkit_diffusion.trainer import load_run
    from koopkit_diffusion.trainer.checkpoints import read_run_config

    run_dir = Path(run_dir)
    metadata = read_run_config(run_dir).get("metadata") or {}
    if "model_config" not in metadata:
        raise ValueError(
            f"{run_dir}/config.json has no metadata.model_config: not a KDM run "
            "(train it with `koopkit-diffusion train`)"
        )
    config = KDMConfig.from_dict(metadata["model_config"])
    if config.loss == "lpips" and not _lpips_available(config.lpips_weights):
        # Sampling never evaluates the loss: build without the LPIPS files.
        logger.info("LPIPS weights not found; loading %s for inference with loss='mse'", run_dir)
        config = dataclasses.replace(config, loss="mse", lpips_weights=None)
    model = build_model(config, metadata.get("model_kind", "kdm"))
    load_run(run_dir, model=model, checkpoint=checkpoint, map_location=map_location)
    return model
