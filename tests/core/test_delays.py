"""TimeDelay and HankelDMD: exact spectra from one scalar, windows inside trajectories, HAVOK."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from koopkit import DMD, HankelDMD
from koopkit.dictionaries import TimeDelay

DT = 0.05
OMEGA = np.array([-0.1 + 2.0j, -0.3 + 5.0j, -0.05 + 0.7j])  # three damped oscillations


def scalar_signal(T=400, t0=0.0, phases=(0.0, 1.0, 2.0)):
    t = t0 + DT * np.arange(T)
    return sum(
        np.exp(w.real * t) * np.cos(w.imag * t + p) for w, p in zip(OMEGA, phases, strict=True)
    )


def match_error(estimated, true):
    return max(np.min(np.abs(np.asarray(estimated) - lam)) for lam in true)


TRUE = np.concatenate([OMEGA, OMEGA.conj()])


@given(T=st.integers(3, 12), n=st.integers(1, 3), d=st.integers(1, 3), n_traj=st.integers(1, 3))
def test_time_delay_rows_are_windows_of_each_trajectory(T, n, d, n_traj):
    X = np.random.default_rng(T * n * d).normal(size=(n_traj, T, n))
    H = TimeDelay(d).fit_transform(X)
    assert H.shape == (n_traj, T - d + 1, d * n)
    for i in range(n_traj):
        for k in range(T - d + 1):
            np.testing.assert_array_equal(H[i, k], X[i, k : k + d].reshape(-1))
    np.testing.assert_array_equal(H @ TimeDelay(d).fit(X).state_matrix_, X[:, d - 1 :])
    as_list = TimeDelay(d).fit_transform([X[i] for i in range(n_traj)])
    np.testing.assert_array_equal(np.stack(as_list), H)


def test_time_delay_names_layouts_and_errors():
    td = TimeDelay(3).fit(np.zeros((5, 2)))
    assert td.feature_names() == ["x0(t-2)", "x1(t-2)", "x0(t-1)", "x1(t-1)", "x0(t)", "x1(t)"]
    assert td.n_output_features_ == 6
    ragged = td.transform([np.ones((5, 2)), np.ones((3, 2))])
    assert [h.shape for h in ragged] == [(3, 6), (1, 6)]
    np.testing.assert_array_equal(TimeDelay(1).fit_transform(np.eye(3)), np.eye(3))
    with pytest.raises(ValueError, match=r"delays=6 is larger than trajectory 1 \(5 snapshots\)"):
        TimeDelay(6).fit([np.ones((7, 1)), np.ones((5, 1))])
    with pytest.raises(ValueError, match="delays must be an integer >= 1"):
        TimeDelay(0).fit(np.ones((5, 1)))
    with pytest.raises(ValueError, match="NaN"):
        TimeDelay(2).fit(np.array([[0.0], [np.nan], [1.0]]))
    with pytest.raises(ValueError, match="not fitted"):
        TimeDelay(2).transform(np.ones((5, 1)))
    with pytest.raises(ValueError, match="2 features"):
        td.transform(np.ones((5, 3)))


def test_hankel_dmd_recovers_three_damped_oscillations_from_one_scalar():
    y = scalar_signal()
    model = HankelDMD(delays=20, rank=6).fit(y)
    assert model.eigenvalues_.shape == (6,) and model.modes_.shape == (1, 6)
    assert model.delay_modes_.shape == (20, 6)
    assert match_error(model.continuous_eigenvalues(DT), TRUE) < 1e-6
    # Plain DMD on the scalar sees one dimension and cannot.
    assert match_error(DMD(rank=1).fit(y[:, None]).continuous_eigenvalues(DT), TRUE) > 0.5
    pred = model.predict(y[:20], 200)
    assert pred.shape == (201, 1)
    np.testing.assert_allclose(pred[:, 0], y[19:220], atol=1e-8)


def test_hankel_dmd_windows_never_cross_trajectories():
    trajs = [
        scalar_signal(T, t0, ph)[:, None]
        for T, t0, ph in [(60, 0.0, (0, 1, 2)), (45, 3.0, (2, 0, 1)), (80, 1.0, (1, 1, 0))]
    ]
    model = HankelDMD(delays=8, rank=6).fit(trajs)
    assert match_error(model.continuous_eigenvalues(DT), TRUE) < 1e-6
    batch = HankelDMD(delays=8, rank=6).fit(np.stack([t[:45] for t in trajs]))
    assert match_error(batch.continuous_eigenvalues(DT), TRUE) < 1e-6
    # Gluing the signals end to end puts windows across the joins: the spectrum is wrong.
    glued = HankelDMD(delays=8, rank=6).fit(np.concatenate(trajs))
    assert match_error(glued.continuous_eigenvalues(DT), TRUE) > 1e-3


def test_hankel_dmd_on_two_channels_of_a_hidden_six_dimensional_system():
    rng = np.random.default_rng(0)
    C = rng.normal(size=(2, 6))
    t = DT * np.arange(300)
    latent = np.stack(
        [np.exp(w.real * t) * np.cos(w.imag * t) for w in OMEGA]
        + [np.exp(w.real * t) * np.sin(w.imag * t) for w in OMEGA],
        axis=1,
    )
    X = latent @ C.T  # (300, 2)
    model = HankelDMD(delays=5, rank=6).fit(X)
    assert model.modes_.shape == (2, 6)
    assert match_error(model.continuous_eigenvalues(DT), TRUE) < 1e-6


@given(seed=st.integers(0, 10_000), rank=st.integers(1, 4))
def test_hankel_dmd_with_one_delay_is_dmd(seed, rank):
    X = np.random.default_rng(seed).normal(size=(2, 30, 4))
    hankel = HankelDMD(delays=1, rank=rank).fit(X)
    dmd = DMD(rank=rank).fit(X)
    np.testing.assert_allclose(hankel.eigenvalues_, dmd.eigenvalues_, atol=1e-10)
    np.testing.assert_allclose(hankel.modes_, dmd.modes_, atol=1e-10)
    np.testing.assert_allclose(hankel.predict(X[0, :1], 5), dmd.predict(X[0, 0], 5), atol=1e-10)


def test_havok_forcing_model_reproduces_the_signal_when_driven_by_its_forcing():
    y = scalar_signal(T=300)
    model = HankelDMD(delays=20, rank=6, forcing=1).fit(y)
    assert model.A_.shape == (5, 5) and model.B_.shape == (5, 1)
    assert model.forcing_.shape == (281, 1) and model.eigenvalues_.shape == (5,)
    j = 30  # start from the window at row 30
    pred = model.predict(y[j : j + 20], 100, forcing=model.forcing_[j + 1 : j + 101])
    np.testing.assert_allclose(pred[:, 0], y[j + 19 : j + 120], atol=1e-9)
    forced_list = HankelDMD(delays=20, rank=6, forcing=1).fit([y[:150], y[150:]])
    assert [w.shape for w in forced_list.forcing_] == [(131, 1), (131, 1)]
    with pytest.raises(ValueError, match="forcing must have shape"):
        model.predict(y[:20], 10, forcing=np.zeros((9, 1)))
    with pytest.raises(ValueError, match="this model is forced"):
        model.predict(y[:20], 10)
    with pytest.raises(ValueError, match="forcing=6 must be smaller than the kept rank 6"):
        HankelDMD(delays=20, rank=6, forcing=6).fit(y)


def test_havok_on_the_gram_path_keeps_forcing_in_small_singular_values():
    """The forcing coordinates sit ~1e-12 below the largest singular value, beyond what a Gram
    matrix resolves: every SVD path still keeps the asked rank, without a warning."""
    t = DT * np.arange(400)
    y = scalar_signal(T=400) + 1e-8 * np.cos(3.0 * t)  # a fourth, tiny oscillation
    ref = HankelDMD(delays=20, rank=8, forcing=2, svd="svd").fit(y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for svd in ["gram", "auto"]:
            model = HankelDMD(delays=20, rank=8, forcing=2, svd=svd).fit(y)
            assert model.rank_ == 8 and model.eigenvalues_.shape == (6,)
            np.testing.assert_allclose(model.eigenvalues_, ref.eigenvalues_, rtol=1e-10)
            np.testing.assert_allclose(np.abs(model.forcing_), np.abs(ref.forcing_), atol=1e-14)
    assert match_error(ref.eigenvalues_, np.exp(TRUE * DT)) < 1e-6


def test_hankel_dmd_torch_round_trip_and_errors():
    y = scalar_signal(T=200)
    model = HankelDMD(delays=10, rank=6).fit(torch.from_numpy(y))
    assert isinstance(model.eigenvalues_, torch.Tensor)
    out = model.predict(torch.from_numpy(y[:10]), 20)
    assert isinstance(out, torch.Tensor) and out.shape == (21, 1)
    np.testing.assert_allclose(out[:, 0].numpy(), y[9:30], atol=1e-8)
    with pytest.raises(ValueError, match=r"needs at least delays \+ 1 = 11 snapshots"):
        HankelDMD(delays=10).fit([y[:50], y[:10]])
    with pytest.raises(ValueError, match="larger than trajectory"):
        HankelDMD(delays=300).fit(y)
    with pytest.raises(ValueError, match=r"history must have shape \(10, 1\)"):
        HankelDMD(delays=10, rank=6).fit(y).predict(y[:9], 5)
    with pytest.raises(ValueError, match="forcing must be a non-negative integer"):
        HankelDMD(forcing=-1).fit(y)
    with pytest.raises(ValueError, match="NaN"):
        HankelDMD(delays=3).fit(np.where(np.arange(200) == 7, np.nan, y))
