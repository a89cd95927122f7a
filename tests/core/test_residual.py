"""Numeric representability: linear residuals in lifted coordinates (koopkit.analysis.residual)."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from koopkit.analysis import linear_residual, plot_residual_curve, residual_curve
from koopkit.autoencoder import KoopmanAutoencoder, mlp
from koopkit.dictionaries import Polynomial
from koopkit.operators import DenseOperator
from koopkit.systems import SlowManifold


def slow_manifold_pairs():
    data = SlowManifold(mu=-0.3, lam=-1.5).trajectories(20, 30, 0.1, seed=0)
    return data[:, :-1].reshape(-1, 2), data[:, 1:].reshape(-1, 2)


@given(n=st.integers(1, 5), seed=st.integers(0, 1000))
def test_linear_data_has_zero_residual(n, seed):
    rng = np.random.default_rng(seed)
    z0 = rng.standard_normal((40, n))
    a = rng.standard_normal((n, n))
    assert linear_residual(z0, z0 @ a) < 1e-10


def test_residual_positive_for_nonlinear_map_and_torch_matches_numpy():
    rng = np.random.default_rng(0)
    z0 = rng.standard_normal((50, 2))
    z1 = np.tanh(2 * z0) + z0**2
    r = linear_residual(z0, z1)
    assert 0.05 < r <= 1.0
    assert linear_residual(torch.from_numpy(z0), torch.from_numpy(z1)) == pytest.approx(r)


def test_invariant_dictionary_closes_and_state_alone_does_not():
    X, Y = slow_manifold_pairs()

    def lift(a):
        return np.stack([a[:, 0], a[:, 1], a[:, 0] ** 2], axis=1)

    closed = residual_curve(X, Y, transform=lift)
    assert closed.residuals[-1] < 1e-8  # d = 3: span{x1, x2, x1^2}
    state = residual_curve(X, Y)
    assert state.residuals[-1] > 1e-4  # the state alone is not invariant
    assert closed.singular_values.shape == (3,)


def test_dictionary_and_autoencoder_transforms():
    X, Y = slow_manifold_pairs()
    poly = residual_curve(X, Y, dims=[2, 4, 6], transform=Polynomial(degree=2))
    assert poly.dims.tolist() == [2, 4, 6]
    # all degree-2 monomials: x2^2 and x1*x2 have Lie derivatives of degree 3, so no closure
    assert poly.residuals[-1] > 1e-4
    torch.manual_seed(0)
    kae = KoopmanAutoencoder(mlp(2, 3, hidden=8), DenseOperator(3), mlp(3, 2, hidden=8))
    curve = residual_curve(X, Y, transform=kae, label="KAE")
    assert curve.residuals.shape == (3,)
    assert np.all((curve.residuals >= 0) & (curve.residuals <= 1))
    ax = plot_residual_curve([poly, curve])
    assert len(ax.lines) == 2
    plt.close(ax.figure)


def test_bad_inputs():
    with pytest.raises(ValueError, match="same shape"):
        linear_residual(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        linear_residual(np.full((3, 2), np.nan), np.ones((3, 2)))
    with pytest.raises(ValueError, match="dims must lie"):
        residual_curve(np.ones((5, 2)), np.ones((5, 2)), dims=[3])
    with pytest.raises(ValueError, match="transform must be"):
        residual_curve(np.ones((5, 2)), np.ones((5, 2)), transform=3)
