"""Shared test configuration."""

import os

import matplotlib
import torch
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")

# Under pytest-xdist every worker already owns a core: a torch thread pool per worker
# oversubscribes the machine and makes small-tensor work many times slower.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

# Deadlines are off: the CI machine has two cores and tests share them; hypothesis checks laws,
# not speed. Benchmarks in benchmarks/ measure speed. The default profile is derandomized: every
# run (CI included) draws the same examples, so a pass or a failure is reproducible. Explore new
# examples with HYPOTHESIS_PROFILE=explore (random, more of them) and keep what it finds.
settings.register_profile(
    "default",
    deadline=None,
    max_examples=25,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore",
    deadline=None,
    max_examples=500,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
