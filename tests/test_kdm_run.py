"""``kdm_run.train_model``: a run is a function of its preset (seed included) and its pairs."""

from __future__ import annotations

import torch

from koopkit_diffusion.kdm_run import train_model
from koopkit_diffusion.presets import get_preset
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
    result = train_model(preset, _pairs(), tmp_path / name, kind=kind)
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
