"""EDM preconditioning, loss, schedule and Heun sampler (Karras et al. 2022)."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from koopkit_diffusion.edm import (
    EDMPrecond,
    edm_loss,
    exact_gaussian_denoiser,
    heun_sample,
    precond_coefficients,
    sigma_schedule,
)


def test_schedule_end_points_and_trailing_zero():
    t = sigma_schedule(18)
    assert t.shape == (19,)
    assert t.dtype == torch.float64
    assert t[0].item() == 80.0
    assert t[-2].item() == pytest.approx(0.002, rel=1e-12)
    assert t[-1].item() == 0.0
    assert torch.all(t[1:] < t[:-1])


@given(
    n_steps=st.integers(2, 60),
    sigma_min=st.floats(1e-4, 0.1),
    sigma_max=st.floats(1.0, 200.0),
    rho=st.floats(1.0, 10.0),
)
def test_schedule_follows_rho_law(n_steps, sigma_min, sigma_max, rho):
    t = sigma_schedule(n_steps, sigma_min, sigma_max, rho)[:-1]
    # Eq. 5: t_i^(1/rho) is an arithmetic progression from sigma_max^(1/rho) to sigma_min^(1/rho).
    u = t ** (1 / rho)
    expected = torch.linspace(
        sigma_max ** (1 / rho), sigma_min ** (1 / rho), n_steps, dtype=torch.float64
    )
    torch.testing.assert_close(u, expected, rtol=1e-8, atol=1e-10)


def test_schedule_single_step_and_bad_input():
    torch.testing.assert_close(sigma_schedule(1), torch.tensor([80.0, 0.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="n_steps"):
        sigma_schedule(0)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        sigma_schedule(10, sigma_min=1.0, sigma_max=0.5)


def test_precond_coefficients_match_table_1():
    sigma = torch.tensor([0.01, 0.5, 2.0, 80.0], dtype=torch.float64)
    sd = 0.5
    c_skip, c_out, c_in, c_noise = precond_coefficients(sigma, sd)
    for k, s in enumerate(sigma.tolist()):
        assert c_skip[k].item() == pytest.approx(sd**2 / (s**2 + sd**2))
        assert c_out[k].item() == pytest.approx(s * sd / math.sqrt(s**2 + sd**2))
        assert c_in[k].item() == pytest.approx(1 / math.sqrt(s**2 + sd**2))
        assert c_noise[k].item() == pytest.approx(math.log(s) / 4)
    # Design rationale of Table 1: unit variance of the network input and of its effective target
    # (y - c_skip (y + sigma n)) / c_out for y with std sd.
    ones = torch.ones(4, dtype=torch.float64)
    torch.testing.assert_close(c_in**2 * (sigma**2 + sd**2), ones)
    target_var = ((1 - c_skip) ** 2 * sd**2 + c_skip**2 * sigma**2) / c_out**2
    torch.testing.assert_close(target_var, ones)


class _Recorder(nn.Module):
    """Raw network that records its inputs and returns a constant."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls = []

    def forward(self, x, noise_labels, class_labels):
        self.calls.append((x.clone(), noise_labels.clone(), class_labels))
        return torch.full_like(x, 2.0) * self.scale


def test_precond_wraps_net_with_c_skip_c_out_c_in_c_noise():
    net = _Recorder()
    model = EDMPrecond(net, sigma_data=0.5)
    x = torch.randn(3, 2)
    sigma = torch.tensor([0.1, 1.0, 10.0])
    out = model(x, sigma)
    c_skip, c_out, c_in, c_noise = precond_coefficients(sigma, 0.5)
    x_in, noise_in, labels_in = net.calls[-1]
    torch.testing.assert_close(x_in, c_in[:, None] * x)
    torch.testing.assert_close(noise_in, c_noise)
    assert labels_in is None
    torch.testing.assert_close(out, c_skip[:, None] * x + c_out[:, None] * 2.0)


def test_precond_casts_to_net_dtype_and_back():
    model = EDMPrecond(_Recorder())
    x = torch.randn(4, 2, dtype=torch.float64)
    out = model(x, 1.0)
    assert out.dtype == torch.float64
    assert model.net.calls[-1][0].dtype == torch.float32


def test_precond_labels_are_one_hot_and_checked():
    net = _Recorder()
    model = EDMPrecond(net, label_dim=3)
    model(torch.randn(2, 2), torch.ones(2), torch.tensor([0, 2]))
    torch.testing.assert_close(net.calls[-1][2], torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
    model(torch.randn(2, 2), torch.ones(2))
    torch.testing.assert_close(net.calls[-1][2], torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        model(torch.randn(2, 2), torch.ones(2), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="unconditional"):
        EDMPrecond(_Recorder())(torch.randn(2, 2), torch.ones(2), torch.tensor([0, 1]))


def test_edm_loss_is_zero_for_the_oracle_and_weighted_per_sample():
    x = torch.full((5, 2), 0.3)

    def oracle(x_noisy, sigma, labels):
        return torch.full_like(x_noisy, 0.3)

    loss = edm_loss(oracle, x)
    assert loss.shape == (5,)
    torch.testing.assert_close(loss, torch.zeros(5))

    # A zero denoiser has error x^2; the weight is (s^2 + sd^2)/(s sd)^2 for the drawn sigma.
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    seen = {}

    def zero(x_noisy, sigma, labels):
        seen["sigma"] = sigma
        return torch.zeros_like(x_noisy)

    loss = edm_loss(zero, x, generator=g1)
    sigma = (torch.randn(5, generator=g2) * 1.2 - 1.2).exp()
    torch.testing.assert_close(seen["sigma"], sigma)
    torch.testing.assert_close(loss, (sigma**2 + 0.25) / (sigma * 0.5) ** 2 * 0.09)


@pytest.mark.parametrize("mean,std", [(0.0, 0.5), (1.0, 0.3), (-0.5, 2.0)])
def test_heun_reproduces_exact_gaussian_flow(mean, std):
    # Data N(m, s^2): the probability-flow ODE is x(sigma) - m = (x_T - m) sqrt((s^2 + sigma^2)
    # / (s^2 + sigma_max^2)), with x_T = sigma_max * eps.
    eps = torch.randn(256, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    exact = mean + (80.0 * eps - mean) * std / math.sqrt(std**2 + 80.0**2)
    errs = {}
    for n in (18, 36, 72):
        res = heun_sample(exact_gaussian_denoiser(mean, std), eps, n_steps=n)
        errs[n] = ((res.samples - mean) / (exact - mean) - 1).abs().max().item()
    assert errs[18] < 0.07  # the ODE discretisation error of 18 steps
    assert errs[72] < 5e-3
    # Second-order method: halving the step divides the error by about 4.
    assert errs[18] / errs[36] > 3.0 and errs[36] / errs[72] > 3.0


def test_heun_counts_2n_minus_1_evaluations_and_returns_trajectory():
    calls = []
    base = exact_gaussian_denoiser(0.0, 0.5)

    def counted(x, sigma, labels):
        calls.append(sigma.clone())
        assert sigma.shape == (x.shape[0],)
        return base(x, sigma, labels)

    noise = torch.randn(4, 1, 2, 2)
    res = heun_sample(counted, noise, n_steps=7, return_trajectory=True)
    assert res.nfe == len(calls) == 13
    assert res.samples.shape == noise.shape
    assert res.trajectory.shape == (8, 4, 1, 2, 2)
    torch.testing.assert_close(res.trajectory[0], 80.0 * noise)
    torch.testing.assert_close(res.trajectory[-1], res.samples)
    torch.testing.assert_close(res.sigmas, sigma_schedule(7, dtype=noise.dtype))
    assert heun_sample(counted, noise, n_steps=18).nfe == 35
    assert heun_sample(counted, noise, n_steps=3).trajectory is None


def test_heun_float64_state_with_float32_network():
    model = EDMPrecond(_Recorder())
    res = heun_sample(model, torch.randn(3, 2), n_steps=4, dtype=torch.float64)
    assert res.samples.dtype == torch.float64
    assert not res.samples.requires_grad
