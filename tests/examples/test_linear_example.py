"""examples/01_linear_koopman.py runs, finds the known spectra and writes its figures."""

import importlib.util
import pathlib

import numpy as np

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "01_linear_koopman.py"


def load_example():
    spec = importlib.util.spec_from_file_location("example01", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example01_recovers_spectra_and_saves_pngs(tmp_path):
    results = load_example().main(["--out", str(tmp_path)])
    sm = results["slow_manifold"]
    for omega in sm["true"]:
        assert np.min(np.abs(sm["edmd"] - omega)) < 1e-8
    assert sm["edmd_rmse"] < 1e-8 < sm["dmd_rmse"]
    duff = results["duffing"]
    assert abs(duff["edmd_nearest"] - duff["well"]) < 0.05
    assert duff["edmd_rmse"] < duff["dmd_rmse"] / 10
    for name in ["eigenvalues.png", "predictions.png"]:
        assert (tmp_path / name).stat().st_size > 10_000
