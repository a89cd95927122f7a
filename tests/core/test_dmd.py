"""DMD: known spectra, de-biasing, the rollout law, array round trips, and input errors."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from koopkit import DMD
from koopkit.systems import LinearSystem


def oscillator_matrix(rates, freqs):
    """Block-diagonal continuous-time matrix with eigenvalues rate ± i 2 pi freq."""
    n = 2 * len(rates)
    A = np.zeros((n, n))
    for j, (a, f) in enumerate(zip(rates, freqs, strict=True)):
        w = 2 * np.pi * f
        A[2 * j : 2 * j + 2, 2 * j : 2 * j + 2] = [[a, w], [-w, a]]
    return A


def embedded_linear_data(n_features=30, T=80, dt=0.1, seed=0, n_traj=1):
    """Trajectories of a 6-D linear system seen through a random orthonormal embedding."""
    A = oscillator_matrix([-0.1, 0.0, -0.3], [0.2, 0.5, 1.1])
    system = LinearSystem(A)
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(rng.normal(size=(n_features, 6)))[0]
    trajs = system.trajectories(n_traj, T - 1, dt, seed=seed) @ Q.T
    return trajs, system.discrete_eigenvalues(dt), Q


def match_error(estimated, true):
    """Largest relative distance after pairing every true eigenvalue with its nearest estimate."""
    estimated = np.asarray(estimated)
    return max(np.min(np.abs(estimated - lam)) / abs(lam) for lam in true)


@pytest.mark.parametrize("svd", ["svd", "gram", "randomized", "auto"])
@pytest.mark.parametrize("method", ["exact", "projected"])
def test_dmd_recovers_known_spectrum(svd, method):
    trajs, true, _ = embedded_linear_data()
    dmd = DMD(rank=6, method=method, svd=svd).fit(trajs[0])
    assert dmd.eigenvalues_.shape == (6,)
    assert match_error(dmd.eigenvalues_, true) < 1e-8
    np.testing.assert_allclose(
        np.sort(dmd.growth_rates(0.1)), np.sort([-0.3, -0.3, -0.1, -0.1, 0.0, 0.0]), atol=1e-7
    )
    np.testing.assert_allclose(
        np.sort(np.abs(dmd.frequencies(0.1))), [0.2, 0.2, 0.5, 0.5, 1.1, 1.1]
    )


def test_dmd_default_rank_finds_signal_rank_by_optimal_threshold():
    trajs, true, _ = embedded_linear_data(n_features=40, T=120)
    noisy = trajs[0] + 1e-6 * np.random.default_rng(3).normal(size=trajs[0].shape)
    dmd = DMD().fit(noisy)
    assert dmd.rank_ == 6
    assert match_error(dmd.eigenvalues_, true) < 1e-4


def test_pairs_never_cross_trajectory_boundaries():
    trajs, true, _ = embedded_linear_data(T=20, n_traj=4)
    batch = DMD(rank=6).fit(trajs)
    as_list = DMD(rank=6).fit([trajs[0], trajs[1][:7], trajs[2], trajs[3][:12]])
    assert match_error(batch.eigenvalues_, true) < 1e-8
    assert match_error(as_list.eigenvalues_, true) < 1e-8
    # Gluing the trajectories end to end creates false pairs and a wrong spectrum.
    glued = DMD(rank=6).fit(trajs.reshape(-1, trajs.shape[-1]))
    assert match_error(glued.eigenvalues_, true) > 1e-3


def test_fit_on_pairs_equals_fit_on_trajectory():
    trajs, _, _ = embedded_linear_data()
    X = trajs[0]
    a = DMD(rank=6).fit(X)
    b = DMD(rank=6).fit(X[:-1], X[1:])
    np.testing.assert_allclose(a.eigenvalues_, b.eigenvalues_, rtol=1e-12)
    np.testing.assert_allclose(a.operator_, b.operator_, atol=1e-12)
    np.testing.assert_allclose(b.reconstruct(), X[1:], atol=1e-9)


def noisy_oscillations(seed, noise=0.05, n_features=20, T=200):
    rng = np.random.default_rng(seed)
    lam = np.array([0.98 * np.exp(0.3j), 0.95 * np.exp(1.1j)])
    t = np.arange(T)
    Z = np.stack([f(lam[j] ** t) for j in range(2) for f in (np.real, np.imag)], axis=1)
    Q = np.linalg.qr(rng.normal(size=(n_features, 4)))[0]
    X = Z @ Q.T
    return X + noise * rng.normal(size=X.shape), np.concatenate([lam, lam.conj()])


def mean_pair_error(estimated, true):
    return np.mean([np.min(np.abs(np.asarray(estimated) - lam)) for lam in true])


def test_forward_backward_and_tlsq_reduce_noise_bias():
    errors = {"plain": [], "fb": [], "tlsq": []}
    for seed in range(3):
        X, true = noisy_oscillations(seed)
        errors["plain"].append(mean_pair_error(DMD(rank=4).fit(X).eigenvalues_, true))
        fb = DMD(rank=4, forward_backward=True).fit(X)
        errors["fb"].append(mean_pair_error(fb.eigenvalues_, true))
        tl = DMD(rank=4, tlsq_rank=4).fit(X)
        errors["tlsq"].append(mean_pair_error(tl.eigenvalues_, true))
    plain = np.mean(errors["plain"])
    # Plain DMD is biased towards damping by ~0.06 here; both corrections cut it by > 3x.
    assert np.mean(errors["fb"]) < plain / 3
    assert np.mean(errors["tlsq"]) < plain / 3


def test_forward_backward_keeps_eigenvalues_with_negative_real_part():
    A = oscillator_matrix([0.0], [0.4])  # discrete phase 2 pi 0.4 dt: Re(lambda) < 0 for dt=1
    X = LinearSystem(A).simulate([1.0, 0.5], 40, 1.0)
    dmd = DMD(rank=2, forward_backward=True).fit(X)
    assert match_error(dmd.eigenvalues_, LinearSystem(A).discrete_eigenvalues(1.0)) < 1e-8


@given(
    seed=st.integers(0, 10_000),
    k=st.integers(0, 25),
    x0=st.lists(st.floats(-3, 3), min_size=4, max_size=4),
)
def test_predict_equals_operator_power(seed, k, x0):
    """predict(x0, k)[k] = (basis operator basis^T)^k x0 for full-rank data."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(4, 4))
    M = 0.9 * M / np.max(np.abs(np.linalg.eigvals(M)))
    X = np.empty((30, 4))
    X[0] = rng.normal(size=4)
    for i in range(29):
        X[i + 1] = M @ X[i] + 0.01 * rng.normal(size=4)
    dmd = DMD(rank=-1).fit(X)
    full = dmd.basis_ @ dmd.operator_ @ dmd.basis_.T
    pred = dmd.predict(np.array(x0), k)
    assert pred.shape == (k + 1, 4)
    expected = np.linalg.matrix_power(full, k) @ np.array(x0)
    np.testing.assert_allclose(pred[k], expected, atol=1e-8 * (1 + np.abs(expected).max()))


@given(seed=st.integers(0, 10_000), k=st.integers(0, 15))
def test_projected_predict_is_reduced_operator_power(seed, k):
    trajs, _, _ = embedded_linear_data(seed=seed % 7)
    X = trajs[0] + 1e-3 * np.random.default_rng(seed).normal(size=trajs[0].shape)
    dmd = DMD(rank=4, method="projected").fit(X)
    x0 = X[3]
    z = np.linalg.matrix_power(dmd.operator_, k) @ (dmd.basis_.T @ x0)
    np.testing.assert_allclose(dmd.predict(x0, k)[k], dmd.basis_ @ z, atol=1e-9)


def test_reconstruct_matches_layout_of_training_data():
    trajs, _, _ = embedded_linear_data(T=15, n_traj=3)
    assert DMD(rank=6).fit(trajs[0]).reconstruct().shape == trajs[0].shape
    rec = DMD(rank=6).fit(trajs).reconstruct()
    np.testing.assert_allclose(rec, trajs, atol=1e-9)
    rec_list = DMD(rank=6).fit([trajs[0], trajs[1][:5]]).reconstruct()
    assert [r.shape for r in rec_list] == [(15, 30), (5, 30)]


def test_amplitudes_reproduce_first_snapshot():
    trajs, _, _ = embedded_linear_data()
    dmd = DMD(rank=6).fit(trajs[0])
    np.testing.assert_allclose(np.real(dmd.modes_ @ dmd.amplitudes_), trajs[0][0], atol=1e-10)
    spec = dmd.spectrum(dt=0.1)
    np.testing.assert_allclose(spec.eigenvalues, dmd.eigenvalues_)
    np.testing.assert_allclose(spec.continuous_eigenvalues, dmd.continuous_eigenvalues(0.1))


def test_numpy_torch_round_trip_and_float32():
    trajs, true, _ = embedded_linear_data()
    X = trajs[0]
    ref = DMD(rank=6).fit(X)
    dmd = DMD(rank=6).fit(torch.from_numpy(X))
    for attr in ["eigenvalues_", "modes_", "amplitudes_", "operator_"]:
        assert isinstance(getattr(dmd, attr), torch.Tensor)
    np.testing.assert_allclose(dmd.eigenvalues_.numpy(), ref.eigenvalues_, rtol=1e-10)
    pred = dmd.predict(torch.from_numpy(X[0]), 5)
    assert isinstance(pred, torch.Tensor) and pred.dtype == torch.float64
    np.testing.assert_allclose(pred.numpy(), ref.predict(X[0], 5), atol=1e-10)
    assert isinstance(dmd.continuous_eigenvalues(0.1), torch.Tensor)
    # numpy x0 into a torch-fitted model gives numpy back
    assert isinstance(dmd.predict(X[0], 2), np.ndarray)

    for variant in [{"forward_backward": True}, {"tlsq_rank": 6}, {"method": "projected"}]:
        ours = DMD(rank=6, svd="gram", **variant).fit(torch.from_numpy(X))
        np.testing.assert_allclose(
            ours.eigenvalues_.numpy(), DMD(rank=6, svd="gram", **variant).fit(X).eigenvalues_
        )

    d32 = DMD(rank=6).fit(X.astype(np.float32))
    assert d32.eigenvalues_.dtype == np.complex64
    assert d32.predict(X[0].astype(np.float32), 3).dtype == np.float32
    assert match_error(d32.eigenvalues_, true) < 1e-3
    t32 = DMD(rank=6).fit(torch.from_numpy(X.astype(np.float32)))
    assert t32.eigenvalues_.dtype == torch.complex64


def test_get_params_set_params_and_sklearn_clone():
    from sklearn.base import clone

    dmd = DMD(rank=3, forward_backward=True)
    assert dmd.get_params()["rank"] == 3
    assert dmd.set_params(rank=5).rank == 5
    twin = clone(dmd)
    assert twin.get_params() == dmd.get_params() and twin is not dmd
    with pytest.raises(ValueError, match="Invalid parameter"):
        dmd.set_params(nope=1)


def test_clear_value_errors():
    trajs, _, _ = embedded_linear_data()
    X = trajs[0]
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        DMD(rank=2).fit(bad)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        DMD(rank=2).fit(bad)
    with pytest.raises(ValueError, match="at least 2 snapshots"):
        DMD(rank=1).fit(X[:1])
    with pytest.raises(ValueError, match="larger than the data"):
        DMD(rank=100).fit(X)
    with pytest.raises(ValueError, match="same shape"):
        DMD(rank=2).fit(X[:-1], X[1:, :5])
    with pytest.raises(ValueError, match="not fitted"):
        DMD().predict(X[0], 3)
    with pytest.raises(ValueError, match="not fitted"):
        _ = DMD().spectrum()
    with pytest.raises(ValueError, match="method must be"):
        DMD(method="optimal").fit(X)
    with pytest.raises(ValueError, match="svd must be one of"):
        DMD(svd="lapack").fit(X)
    with pytest.raises(ValueError, match="tlsq_rank"):
        DMD(tlsq_rank=-1).fit(X)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        DMD().fit(X[0])
    dmd = DMD(rank=2).fit(X)
    with pytest.raises(ValueError, match=r"x0 must have shape \(30,\)"):
        dmd.predict(X[0, :5], 3)
    with pytest.raises(ValueError, match="n_steps"):
        dmd.predict(X[0], -1)


def test_linear_modules_import_neither_torch_nor_pydmd():
    import subprocess
    import sys

    modules = "dmd, edmd, dictionaries, linalg, spectrum, systems, interop, analysis.plotting"
    code = (
        "import sys\n"
        + "".join(f"import koopkit.{m}\n" for m in modules.split(", "))
        + "print('torch' in sys.modules, 'pydmd' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("layout", ["single", "batch", "list", "pairs"])
def test_gram_route_equals_thin_svd_route_on_tall_data(layout):
    trajs, _, _ = embedded_linear_data(n_features=800, T=120, n_traj=2)
    data = trajs + 1e-4 * np.random.default_rng(1).normal(size=trajs.shape)
    args = {
        "single": (data[0],),
        "batch": (data,),
        "list": ([data[0], data[1][:70]],),
        "pairs": (data[0][:-1], data[0][1:]),
    }[layout]
    ref = DMD(rank=6, svd="svd").fit(*args)
    for path in ["gram", "auto"]:
        ours = DMD(rank=6, svd=path).fit(*args)
        np.testing.assert_allclose(ours.eigenvalues_, ref.eigenvalues_, rtol=1e-10)
        np.testing.assert_allclose(ours.singular_values_, ref.singular_values_, rtol=1e-10)
        np.testing.assert_allclose(
            ours.modes_ * ours.amplitudes_, ref.modes_ * ref.amplitudes_, atol=1e-9
        )
        np.testing.assert_allclose(np.abs(ours.basis_.T @ ref.basis_), np.eye(6), atol=1e-9)


def test_gram_route_keeps_the_asked_rank_below_its_resolution():
    """Singular values down to 1e-10 of the largest: the Gram matrix resolves those above ~1e-6
    only, yet svd="gram" keeps rank 16 like the thin SVD, without a warning."""
    rng = np.random.default_rng(3)
    U = np.linalg.qr(rng.normal(size=(6000, 20)))[0]
    V = np.linalg.qr(rng.normal(size=(20, 20)))[0]
    X = (U * np.logspace(0, -10, 20)) @ V.T
    A = np.linalg.qr(rng.normal(size=(20, 20)))[0] * 0.9
    ref = DMD(rank=16, svd="svd").fit(X, X @ A.T)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = DMD(rank=16, svd="gram").fit(X, X @ A.T)
    assert ours.rank_ == ref.rank_ == 16
    np.testing.assert_allclose(ours.eigenvalues_, ref.eigenvalues_, rtol=1e-8)
    np.testing.assert_allclose(ours.singular_values_, ref.singular_values_, rtol=1e-8)
