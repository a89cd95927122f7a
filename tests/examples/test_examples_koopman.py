"""The toy-ODE examples run end to end (reduced settings of the same code paths)."""

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"koopkit_example_{name}", EXAMPLES / name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_thread():
    """Tiny networks: one torch thread avoids oversubscribing the shared CI cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_quick_pendulum_consistent_autoencoder_beats_dmd(tmp_path):
    example = load_example("02_pendulum_koopman_autoencoder.py")
    cfg = dataclasses.replace(
        example.QUICK,
        n_steps=800,
        n_predict=100,
        epochs=60,
        n_restarts=1,
        n_test_starts=4,
        poly_degree=3,
        rbf_centers=30,
    )
    metrics = example.run(cfg, tmp_path, progress=False)
    errors = metrics["relative_error"]
    assert set(errors) == {"DMD", "EDMD-poly", "EDMD-RBF", "KAE", "consistent KAE"}
    assert errors["consistent KAE"]["100"] < errors["DMD"]["100"]
    assert np.isfinite(errors["consistent KAE"]["100"])
    for name in ("errors.png", "spectra.png", "metrics.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["epochs"] == 60


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_representability_example_main(tmp_path, capsys):
    example = load_example("03_representability.py")
    results = example.main(
        ["--out", str(tmp_path), "--kae-steps", "60", "--max-degree", "5", "--threads", "1"]
    )
    assert results["slow_manifold"]["closed"]
    assert results["slow_manifold"]["eigenvalues_match"]
    assert not results["duffing"]["closed"]
    slow = results["residual_curves"]["slow manifold"]
    assert slow["[x1, x2, x1²]"][-1] < 1e-10 < slow["state (x1, x2)"][-1]
    assert (tmp_path / "residual_curves.png").stat().st_size > 0
    assert "match=True" in capsys.readouterr().out
