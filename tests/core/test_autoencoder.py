"""Koopman autoencoder losses and prediction (koopkit.autoencoder)."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import nn

import koopkit as kk
from koopkit.autoencoder import KoopmanAutoencoder, mlp
from koopkit.operators import DenseOperator, DiagonalOperator


def linear_trajectories(k, n_traj, n_time, seed=0):
    """Exact trajectories x_{t+1} = K x_t of a linear system, shape (n_traj, n_time, n)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_traj, k.shape[0], generator=g, dtype=k.dtype)
    states = [x]
    for _ in range(n_time - 1):
        states.append(states[-1] @ k.T)
    return torch.stack(states, dim=1)


def true_model(k, backward=None):
    dim = k.shape[0]
    op = DenseOperator(dim).double()
    with torch.no_grad():
        op.weight.copy_(k)
    back = None
    if backward is not None:
        back = DenseOperator(dim).double()
        with torch.no_grad():
            back.weight.copy_(backward)
    return KoopmanAutoencoder(nn.Identity(), op, nn.Identity(), backward_operator=back)


@given(dim=st.integers(1, 5), seed=st.integers(0, 1000), horizon=st.integers(1, 4))
def test_losses_vanish_for_exact_linear_system_with_true_operator(dim, seed, horizon):
    torch.manual_seed(seed)
    k = DiagonalOperator(dim, modulus_range=(0.5, 0.99)).double().matrix().detach()
    basis = torch.eye(dim, dtype=torch.float64) + 0.3 * torch.randn(dim, dim, dtype=torch.float64)
    k = basis @ k @ torch.linalg.inv(basis)  # a non-normal operator with the same spectrum
    data = linear_trajectories(k, 3, horizon + 3, seed)
    losses = true_model(k, backward=torch.linalg.inv(k)).loss(data, horizon)
    for name in ("reconstruction", "prediction", "linearity"):
        assert losses[name].item() < 1e-16, name
    # The backward terms apply inv(K) up to `horizon` times: its rounding grows with cond(K).
    bound = 1e-16 * max(1.0, torch.linalg.cond(k).item()) ** (2 * horizon)
    for name in ("backward", "consistency", "total"):
        assert losses[name].item() < bound, name


def test_losses_positive_with_wrong_operator():
    k = torch.tensor([[0.9, -0.2], [0.2, 0.9]], dtype=torch.float64)
    data = linear_trajectories(k, 4, 6)
    losses = true_model(0.8 * k, backward=k.T).loss(data, horizon=3)
    assert losses["reconstruction"].item() < 1e-20  # identity encoder/decoder
    for name in ("prediction", "linearity", "backward", "consistency", "total"):
        assert losses[name].item() > 1e-4, name


def test_reconstruction_positive_with_lossy_autoencoder():
    k = torch.eye(3, dtype=torch.float64)
    data = linear_trajectories(k, 2, 4)
    model = true_model(k)
    model.decoder = nn.Sequential(nn.Identity(), nn.Hardtanh(-0.1, 0.1))
    assert model.loss(data, 2)["reconstruction"].item() > 1e-4


@given(dim=st.integers(1, 6), seed=st.integers(0, 1000))
def test_consistency_vanishes_iff_backward_is_inverse(dim, seed):
    torch.manual_seed(seed)
    k = torch.randn(dim, dim, dtype=torch.float64) + 3 * torch.eye(dim, dtype=torch.float64)
    # A perturbation of inv(K) by 0.05 moves the products by 0.05·K: keep K away from singular.
    assume(torch.linalg.svdvals(k).min().item() > 0.5)
    data = linear_trajectories(k / 4, 2, 3)
    exact = true_model(k, backward=torch.linalg.inv(k)).loss(data, 1)["consistency"]
    assert exact.item() < 1e-18
    off = true_model(k, backward=torch.linalg.inv(k) + 0.05).loss(data, 1)["consistency"]
    assert off.item() > 1e-5


def test_plain_autoencoder_has_no_backward_terms():
    k = torch.eye(2, dtype=torch.float64)
    losses = true_model(0.5 * k).loss(linear_trajectories(k, 2, 3), 2)
    assert losses["consistency"].item() == 0.0 and losses["backward"].item() == 0.0


def test_weights_scale_terms_and_operator_penalty_enters():
    torch.manual_seed(0)
    model = KoopmanAutoencoder(
        mlp(3, 2), kk.operators.EigendecomposedOperator(2), mlp(2, 3), DenseOperator(2)
    )
    with torch.no_grad():
        model.operator.Q.add_(0.3)
    batch = torch.randn(4, 5, 3)
    losses = model.loss(batch, 3, weights={"prediction": 2.0, "linearity": 0.0})
    assert losses["penalty"].item() > 0
    expected = (
        losses["reconstruction"]
        + 2 * losses["prediction"]
        + 0.1 * losses["backward"]
        + 0.01 * losses["consistency"]
        + losses["penalty"]
    )
    assert torch.allclose(losses["total"], expected)
    losses["total"].backward()
    assert all(p.grad is not None for p in model.parameters())


def test_predict_numpy_in_numpy_out_and_matches_rollout():
    torch.manual_seed(0)
    k = torch.tensor([[0.9, -0.3], [0.3, 0.9]], dtype=torch.float64)
    model = true_model(k)
    x0 = np.array([1.0, 0.5])
    out = model.predict(x0, 5)
    assert isinstance(out, np.ndarray) and out.shape == (6, 2)
    ref = np.stack([np.linalg.matrix_power(k.numpy(), j) @ x0 for j in range(6)])
    np.testing.assert_allclose(out, ref, atol=1e-12)
    batch = model.predict(torch.ones(3, 2, dtype=torch.float64), 4)
    assert isinstance(batch, torch.Tensor) and batch.shape == (3, 5, 2)


def test_mlp_shapes_and_validation():
    net = mlp(5, 3, hidden=8, depth=3, activation="relu")
    assert net(torch.zeros(7, 5)).shape == (7, 3)
    assert sum(isinstance(m, nn.Linear) for m in net) == 4
    assert len(mlp(5, 3, depth=0)) == 1
    assert isinstance(mlp(2, 2, activation=nn.Softplus)[1], nn.Softplus)
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp(2, 2, activation="sigmoidish")
    assert kk.mlp is mlp and kk.KoopmanAutoencoder is KoopmanAutoencoder


def test_bad_inputs_raise():
    model = true_model(torch.eye(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="horizon"):
        model.loss(torch.zeros(1, 5, 2, dtype=torch.float64), 0)
    with pytest.raises(ValueError, match=r"shape \(B, T, n\)"):
        model.loss(torch.zeros(5, 2, dtype=torch.float64), 1)
    with pytest.raises(ValueError, match="horizon \\+ 1"):
        model.loss(torch.zeros(1, 2, 2, dtype=torch.float64), 3)
    with pytest.raises(ValueError, match="unknown loss weights"):
        model.loss(torch.zeros(1, 3, 2, dtype=torch.float64), 1, weights={"foo": 1.0})
    with pytest.raises(ValueError, match="backward_operator.dim"):
        KoopmanAutoencoder(nn.Identity(), DenseOperator(2), nn.Identity(), DenseOperator(3))
    with pytest.raises(ValueError, match="KoopmanOperator"):
        KoopmanAutoencoder(nn.Identity(), nn.Linear(2, 2), nn.Identity())
