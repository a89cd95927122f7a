"""same_noise_scores: a student scored against the teacher's samples of the same noises."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from koopkit_diffusion.evaluation import same_noise_scores
from koopkit_diffusion.students import OneStepSampling


def _teacher(noise: torch.Tensor) -> torch.Tensor:
    return torch.tanh(3 * noise) * 2 + noise[:, [1, 0]]


class _Student(OneStepSampling):
    """``teacher + shift`` (+ the label along the first axis when labels are given)."""

    shape = (2,)

    def __init__(self, shift, scale: float = 1.0, label_dim: int = 0) -> None:
        self.shift, self.scale = torch.as_tensor(shift, dtype=torch.float32), scale
        self.label_dim = label_dim

    def sample(self, noise, labels=None):
        x = self.scale * _teacher(noise) + self.shift
        if labels is not None:
            x = x + torch.stack([labels.float(), torch.zeros(len(labels))], 1)
        return x


def _pairs(n: int, seed: int, labels: bool = False) -> dict[str, torch.Tensor]:
    noise = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    out = {"noise": noise, "sample": _teacher(noise)}
    if labels:
        out["label"] = torch.arange(n) % 3
        out["sample"] = out["sample"] + torch.stack([out["label"].float(), torch.zeros(n)], 1)
    return out


def test_a_perfect_student_scores_zero_and_labels_reach_the_model():
    for labels in (False, True):
        student = _Student([0.0, 0.0], label_dim=3 if labels else 0)
        scores = same_noise_scores(student, _pairs(3000, 0, labels), batch_size=700)
        assert scores == {"sw_same_noise": 0.0, "rmse_same_noise": 0.0}


@settings(max_examples=25, deadline=None)
@given(dx=st.floats(-2, 2), dy=st.floats(-2, 2), scale=st.floats(0.5, 1.5), seed=st.integers(0, 99))
def test_same_noise_sw_never_exceeds_the_per_pair_rmse(dx, dy, scale, seed):
    scores = same_noise_scores(_Student([dx, dy], scale), _pairs(2000, seed))
    assert 0.0 <= scores["sw_same_noise"] <= scores["rmse_same_noise"] * (1 + 1e-6) + 1e-7


def test_a_translation_costs_its_mean_projection():
    shift = np.array([0.3, -0.4])
    scores = same_noise_scores(_Student(shift), _pairs(5000, 1))
    assert scores["rmse_same_noise"] == pytest.approx(0.5, rel=1e-5)
    # mean |<θ, c>| over unit directions θ in 2-D is (2/π)·‖c‖; 512 fixed directions
    assert scores["sw_same_noise"] == pytest.approx(2 / math.pi * 0.5, rel=0.05)
