"""``runs.train_run``: a run is a function of its preset (seed included) and its pairs."""

from __future__ import annotations

import torch

from koopkit_diffusion.runs.presets import get_preset
from koopkit_diffusion.runs.training import train_run
from koopkit_diffusion.trainer import TensorDictDataset

TINY = {
    "model.mlp_width": "8",
    "model.latent_dim": "4",
    "model.mlp_depth": "1",
    "train.batch_size": "32",
    "train.steps": "3",
    "train.log_every": "1",
    "train.checkpoint_every": "100",
    "train.sample_every": "0",
    "train.progress": "false",
}


def _pairs(n=64):
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(n, 2, generator=gen)
    return TensorDictDataset(noise=noise, sample=torch.tanh(noise))


def _train(tmp_path, name, kind, seed):
    preset = get_preset("checkerboard", {**TINY, "train.seed": str(seed)})
    result = train_run(preset, tmp_path / name, pairs=_pairs(), kind=kind)
    return {k: v.clone() for k, v in result.model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_seed_fixes_the_initial_weights_whatever_ran_before(tmp_path):
    for kind in ("kdm", "kd"):
        torch.manual_seed(1)
        first = _train(tmp_path, f"{kind}-a", kind, seed=3)
        torch.randn(1000)  # earlier work in the process moves the global generator
        second = _train(tmp_path, f"{kind}-b", kind, seed=3)
        assert _same(first, second), kind
        other = _train(tmp_path, f"{kind}-c", kind, seed=4)
        assert not _same(first, other), kind


def test_a_short_digits_run_averages_the_trained_weights_not_the_initial_ones(tmp_path):
    # Example 05 --quick trains 600 steps; with EMA 0.999 and no warm-up the average would still
    # hold 0.999**600 ≈ 55 % of the initial weights. The preset's warm-up follows the training.
    from koopkit_diffusion.runs.training import build_model

    overrides = {
        "model.label_dim": "0",
        "model.model_channels": "8",
        "train.batch_size": "8",
        "train.steps": "20",
        "train.log_every": "5",
        "train.checkpoint_every": "100",
        "train.sample_every": "0",
        "train.progress": "false",
    }
    preset = get_preset("digits", overrides)
    gen = torch.Generator().manual_seed(0)
    pairs = TensorDictDataset(
        noise=torch.randn(64, 1, 8, 8, generator=gen), sample=torch.rand(64, 1, 8, 8) * 2 - 1
    )
    result = train_run(preset, tmp_path / "run", pairs=pairs, kind="kdm")
    init = build_model(preset.model, "kdm", seed=preset.train.seed).state_dict()
    ema, live = result.ema.state_dict(), result.model.state_dict()
    floats = [k for k, v in live.items() if v.is_floating_point()]

    def dist(a, b):
        return sum((a[k].float() - b[k].float()).square().sum() for k in floats).sqrt()

    assert not _same(init, live)  # the run did move the weights
    assert dist(ema, live) < dist(ema, init)
