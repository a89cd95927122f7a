"""Cross-checks against PyDMD and the PyDMD -> Spectrum converter."""

import warnings

import numpy as np
import pydmd
import pytest

from koopkit import DMD, from_pydmd


def oscillatory_data(n_features=120, T=90, noise=1e-3, seed=0):
    """Snapshots as rows: 3 damped oscillations (rank 6) in random directions plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    X = np.zeros((T, n_features))
    for r, f in [(0.99, 0.03), (0.97, 0.11), (1.0, 0.2)]:
        z = r * np.exp(2j * np.pi * f)
        phi = rng.normal(size=n_features) + 1j * rng.normal(size=n_features)
        X += 2 * np.real(np.outer(z**t, phi))
    return X + noise * rng.normal(size=X.shape)


def pair_up(a, b):
    """Permutation of b matching each element of a to its nearest unused element of b."""
    b = list(b)
    idx = list(range(len(b)))
    perm = []
    for value in a:
        j = min(idx, key=lambda i: abs(b[i] - value))
        idx.remove(j)
        perm.append(j)
    return np.array(perm)


def fit_pydmd(X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydmd.DMD(**kwargs).fit(X.T)  # PyDMD: snapshots are columns


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ({"method": "exact"}, {"exact": True}),
        ({"method": "projected"}, {"exact": False}),
        ({"method": "exact", "tlsq_rank": 8}, {"exact": True, "tlsq_rank": 8}),
    ],
)
@pytest.mark.parametrize("svd", ["svd", "gram", "randomized"])
def test_dmd_matches_pydmd_eigenvalues_and_modes(ours, theirs, svd):
    X = oscillatory_data()
    theirs_model = fit_pydmd(X, svd_rank=6, **theirs)
    model = DMD(rank=6, svd=svd, **ours).fit(X)
    perm = pair_up(model.eigenvalues_, theirs_model.eigs)
    their_eigs = theirs_model.eigs[perm]
    np.testing.assert_allclose(model.eigenvalues_, their_eigs, rtol=1e-8)
    their_modes = theirs_model.modes[:, perm]
    for j in range(6):
        a, b = model.modes_[:, j], their_modes[:, j]
        scale = np.vdot(b, a) / np.vdot(b, b)  # modes are equal up to a complex scale
        np.testing.assert_allclose(a, scale * b, atol=1e-8 * np.abs(a).max())


def test_dmd_amplitudes_and_reduced_operator_match_pydmd():
    X = oscillatory_data(seed=1)
    theirs = fit_pydmd(X, svd_rank=6, exact=True)  # PyDMD's default is projected modes
    ours = DMD(rank=6, svd="svd").fit(X)
    perm = pair_up(ours.eigenvalues_, theirs.eigs)
    # Amplitudes depend on each mode's scale; mode times amplitude does not.
    np.testing.assert_allclose(
        ours.modes_ * ours.amplitudes_, theirs.modes[:, perm] * theirs.amplitudes[perm], atol=1e-7
    )
    # Same POD basis up to column signs, so the reduced operators agree after that flip.
    signs = np.sign(np.sum(ours.basis_ * theirs._svd_modes, axis=0))
    np.testing.assert_allclose(
        ours.operator_ * np.outer(signs, signs), theirs.operator.as_numpy_array, atol=1e-10
    )


def test_default_rank_matches_pydmd_optimal_threshold():
    X = oscillatory_data(noise=1e-2, seed=2)
    theirs = fit_pydmd(X, svd_rank=0)
    ours = DMD(svd="svd").fit(X)
    assert ours.rank_ == len(theirs.eigs) == 6


def test_from_pydmd_builds_sorted_spectrum():
    X = oscillatory_data()
    spec = from_pydmd(fit_pydmd(X, svd_rank=6, exact=True), dt=0.5)
    ours = DMD(rank=6).fit(X).spectrum(dt=0.5)
    np.testing.assert_allclose(spec.eigenvalues, ours.eigenvalues, rtol=1e-8)
    assert spec.modes.shape == (120, 6) and spec.amplitudes.shape == (6,)
    np.testing.assert_allclose(spec.frequencies, ours.frequencies, rtol=1e-7)
    assert spec.dt == 0.5


def test_from_pydmd_rejects_unfitted_or_foreign_objects():
    with pytest.raises(ValueError, match="not fitted"):
        from_pydmd(pydmd.DMD(svd_rank=2))
    with pytest.raises(ValueError, match="expected a PyDMD model"):
        from_pydmd(object())


def test_benchmark_script_runs_on_small_data(capsys):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "bench_dmd.py"
    spec = importlib.util.spec_from_file_location("bench_dmd", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.main(["--sizes", "300x60:20", "--repeats", "1"])
    (rows,) = results.values()
    assert len(rows) == 5
    reference = rows.pop("pydmd DMD(svd_rank, exact=True)")["max_eigenvalue_error"]
    assert reference < 1e-4  # 59 noisy snapshots still pin the eigenvalues down
    for row in rows.values():  # every koopkit path is as accurate as PyDMD
        assert row["max_eigenvalue_error"] <= reference * (1 + 1e-6) + 1e-12
    assert "svd='auto' vs pydmd" in capsys.readouterr().out
