"""Examples 08 (control inputs) and 09 (delays, noise, model selection) find their answers."""

import importlib.util
import pathlib
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"koopkit_example_{name}", EXAMPLES / name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_example08_recovers_control_systems_and_saves_the_figure(tmp_path):
    results = load_example("08_control_inputs.py").main(["--out", str(tmp_path)])
    linear, nonlinear = results["linear"], results["nonlinear"]
    assert linear["A_error"] < 1e-8 and linear["B_error"] < 1e-8
    assert linear["dmdc_eig_error"] < 1e-10 < 1e-3 < linear["dmd_eig_error"]
    assert linear["dmdc_rmse"] < 1e-8 < 0.1 < linear["dmd_rmse"]
    assert nonlinear["edmdc_rmse"] < 1e-8 < 0.1 < nonlinear["dmdc_rmse"]
    assert (tmp_path / "control.png").stat().st_size > 10_000


@pytest.mark.slow
def test_example09_delays_noise_and_selection(tmp_path):
    example = load_example("09_delays_and_noise.py")
    results = example.main(["--out", str(tmp_path), "--lorenz-steps", "5000", "--bags", "8"])
    assert results["hankel"]["hankel_error"] < 1e-6 < 1.0 < results["hankel"]["dmd_error"]
    havok = results["havok"]
    assert havok["announced_fraction"] > havok["baseline_fraction"] + 0.15
    noise = results["noise"]
    assert noise["optdmd_error"] < 0.02 < 1.0 < noise["dmd_error"]
    assert noise["bopdmd_error"] < 0.02 and noise["bopdmd_max_std"] > 0
    selection = results["selection"]
    assert selection["rrr"][1] > 1.8 > 0.2 > selection["pcr"][1]
    assert (tmp_path / "delays_and_noise.png").stat().st_size > 10_000
