"""Optimized DMD and BOP-DMD: exact exponents, irregular samples, noise robustness, bagging."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from koopkit import BOPDMD, DMD, OptDMD

DT = 0.01
OMEGA = np.array([-0.1 + 2.0j, -0.3 + 5.0j, -0.05 + 9.0j])
TRUE = np.concatenate([OMEGA, OMEGA.conj()])


def match_error(estimated, true=TRUE):
    return max(np.min(np.abs(np.asarray(estimated) - lam)) for lam in true)


def oscillations(t, n=40, seed=0, omega=OMEGA, amplitudes=None):
    """Real snapshots (len(t), n): sums of the exponentials exp(omega t) and conjugates."""
    rng = np.random.default_rng(seed)
    modes = rng.normal(size=(len(omega), n)) + 1j * rng.normal(size=(len(omega), n))
    b = np.ones(len(omega)) if amplitudes is None else amplitudes
    return 2 * np.real(np.exp(np.outer(t, omega)) @ (b[:, None] * modes))


def test_optdmd_recovers_exponents_on_regular_and_irregular_samples():
    steps = np.arange(600)
    X = oscillations(DT * steps)
    model = OptDMD(rank=6).fit(X)
    assert match_error(model.continuous_eigenvalues(DT)) < 1e-9
    assert model.residual_ < 1e-10
    np.testing.assert_allclose(model.predict(X[0], 50), X[:51], atol=1e-8)
    # Irregular samples: 200 random instants; t is given in steps (times / dt).
    rng = np.random.default_rng(1)
    t = np.sort(rng.choice(steps, size=200, replace=False)) + rng.uniform(0, 0.5, 200)
    irregular = OptDMD(rank=6).fit(oscillations(DT * t), t=t)
    assert match_error(irregular.continuous_eigenvalues(DT)) < 1e-8


def test_optdmd_shares_eigenvalues_across_trajectories():
    t = DT * np.arange(300)
    rng = np.random.default_rng(4)
    trajs = [
        oscillations(t, amplitudes=rng.normal(size=3) + 1j * rng.normal(size=3)) for _ in range(3)
    ]
    batch = OptDMD(rank=6).fit(np.stack(trajs))
    ragged = OptDMD(rank=6).fit([trajs[0], trajs[1][:120], trajs[2][:200]])
    for model in (batch, ragged):
        assert match_error(model.continuous_eigenvalues(DT)) < 1e-9
    x0 = trajs[1][0]
    np.testing.assert_allclose(batch.predict(x0, 30), trajs[1][:31], atol=1e-8)


def test_optdmd_is_far_less_biased_than_dmd_under_noise():
    X = oscillations(DT * np.arange(800))
    noisy = X + 0.3 * np.random.default_rng(2).normal(size=X.shape)
    opt = OptDMD(rank=6).fit(noisy)
    dmd = DMD(rank=6).fit(noisy)
    opt_err = match_error(opt.continuous_eigenvalues(DT))
    dmd_err = match_error(dmd.continuous_eigenvalues(DT))
    assert opt_err < 0.01 < dmd_err
    assert opt_err < dmd_err / 20


@given(seed=st.integers(0, 10_000), shift=st.floats(-50, 50))
def test_optdmd_eigenvalues_do_not_depend_on_the_time_origin(seed, shift):
    rng = np.random.default_rng(seed)
    omega = rng.uniform(-0.5, 0.0, 2) + 1j * rng.uniform(1.0, 10.0, 2)
    omega[1] += 1j * 3.0  # keep the two frequencies apart
    X = oscillations(DT * np.arange(200), n=10, seed=seed, omega=omega)
    X += 1e-3 * rng.normal(size=X.shape)
    a = OptDMD(rank=4).fit(X)
    b = OptDMD(rank=4).fit(X, t=np.arange(200) + shift)
    np.testing.assert_allclose(b.eigenvalues_, a.eigenvalues_, atol=1e-7)
    truth = np.concatenate([omega, omega.conj()])
    assert match_error(a.continuous_eigenvalues(DT), truth) < 0.05


def test_bopdmd_with_full_bags_is_optdmd_with_zero_spread():
    X = oscillations(DT * np.arange(300))
    noisy = X + 0.1 * np.random.default_rng(0).normal(size=X.shape)
    bop = BOPDMD(rank=6, n_bags=3, bag_fraction=1.0).fit(noisy)
    opt = OptDMD(rank=6).fit(noisy)
    np.testing.assert_allclose(bop.eigenvalues_, opt.eigenvalues_, atol=1e-10)
    np.testing.assert_allclose(bop.eigenvalues_std_, 0.0, atol=1e-10)


def test_bopdmd_spread_grows_with_noise_and_covers_the_truth():
    X = oscillations(DT * np.arange(500))
    rng = np.random.default_rng(3)
    spreads = []
    for sigma in (0.05, 0.4):
        bop = BOPDMD(rank=6, n_bags=30, seed=1).fit(X + sigma * rng.normal(size=X.shape))
        assert bop.eigenvalues_bags_.shape == (30, 6)
        std = bop.continuous_eigenvalues_std(DT)
        omega = bop.continuous_eigenvalues(DT)
        for lam in TRUE:
            j = int(np.argmin(np.abs(omega - lam)))
            assert abs(omega[j].real - lam.real) < 5 * std[j].real + 1e-3
            assert abs(omega[j].imag - lam.imag) < 5 * std[j].imag + 1e-3
        spreads.append(np.abs(std).mean())
    assert spreads[1] > 4 * spreads[0]


def test_optdmd_torch_round_trip():
    X = oscillations(DT * np.arange(200))
    model = BOPDMD(rank=6, n_bags=2).fit(torch.from_numpy(X))
    assert isinstance(model.eigenvalues_, torch.Tensor) and isinstance(model.modes_, torch.Tensor)
    assert isinstance(model.eigenvalues_std_, torch.Tensor)
    out = model.predict(torch.from_numpy(X[0]), 10)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), X[:11], atol=1e-7)


def test_optdmd_input_errors():
    X = oscillations(DT * np.arange(50), n=5)
    with pytest.raises(ValueError, match=r"t must have shape \(50,\)"):
        OptDMD(rank=2).fit(X, t=np.arange(49))
    with pytest.raises(ValueError, match="strictly increasing"):
        OptDMD(rank=2).fit(X, t=np.r_[np.arange(49), 10.0])
    with pytest.raises(ValueError, match="NaN"):
        OptDMD(rank=2).fit(np.where(np.eye(50, 5) > 0, np.nan, X))
    with pytest.raises(ValueError, match="rank=9 is larger than the data allows"):
        OptDMD(rank=9).fit(X)
    with pytest.raises(ValueError, match="at least 2 snapshots"):
        OptDMD(rank=1).fit(X[:1])
    with pytest.raises(ValueError, match=r"bag_fraction must lie in \(0, 1\]"):
        BOPDMD(rank=2, bag_fraction=1.5).fit(X)
    with pytest.raises(ValueError, match="n_bags must be a positive integer"):
        BOPDMD(rank=2, n_bags=0).fit(X)
    with pytest.raises(ValueError, match="too few snapshots per bag"):
        BOPDMD(rank=2, bag_fraction=0.02).fit(X)
    with pytest.raises(ValueError, match="not fitted"):
        OptDMD().predict(X[0], 3)


def test_bopdmd_benchmark_matches_pydmd_on_common_bags(capsys):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "bench_bopdmd.py"
    spec = importlib.util.spec_from_file_location("bench_bopdmd", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = ["--n-features", "20", "--n-snapshots", "200", "--bags", "3", "--realizations", "1"]
    out = bench.main(args)
    for method in ("optdmd", "bopdmd"):
        err_pydmd, _ = out["results"][(method, "pydmd")]
        err_koopkit, _ = out["results"][(method, "koopkit")]
        assert err_koopkit == pytest.approx(err_pydmd, rel=1e-6)  # the same estimator
        assert err_koopkit < 0.05
    assert "free koopkit fit = PyDMD's to" in capsys.readouterr().out


@given(seed=st.integers(0, 10_000), noise=st.sampled_from([0.0, 0.05, 0.3]))
def test_optdmd_exponents_are_closed_under_conjugation(seed, noise):
    rng = np.random.default_rng(seed)
    X = oscillations(DT * np.arange(150), n=8, seed=seed)
    X += noise * rng.normal(size=X.shape)
    lam = OptDMD(rank=6).fit(X).eigenvalues_
    np.testing.assert_allclose(np.sort_complex(lam), np.sort_complex(lam.conj()), atol=1e-14)
    # pairs sit together, positive imaginary part first (the koopkit ordering); heavy noise
    # may turn a pair into two real exponents, which stay real
    for i in np.flatnonzero(lam.imag > 0):
        assert lam[i + 1] == lam[i].conj()
    assert np.sum(lam.imag > 0) == np.sum(lam.imag < 0)
