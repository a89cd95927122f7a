"""Example 06's CPU smoke test: the whole CIFAR-10 route with tiny models."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_example_06_smoke_runs_the_whole_route_and_writes_fid(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "06_cifar10_kdm.py"), "--smoke", "--out",
         str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert math.isfinite(results["fid"]) and results["fid"] == results["kdm"]["fid"]
    # the teacher is scored with the sampler that made the pairs: the smoke's 2 Heun steps
    assert (results["kdm"]["nfe"], results["kd"]["nfe"], results["teacher"]["nfe"]) == (1, 1, 3)
    for who in ("kdm", "kd", "teacher"):
        entry = results[who]
        assert {"fid", "inception_score", "precision", "recall"} <= set(entry), who
        assert entry["precision_recall_reference"] == "data"
    manifest = json.loads((tmp_path / "pairs" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["label_dim"] == 10 and manifest["count"] == 16
    teacher = json.loads((tmp_path / "teacher" / "run.json").read_text())
    assert teacher["kind"] == "teacher" and teacher["config"]["data"]["augment"] == 0.12
