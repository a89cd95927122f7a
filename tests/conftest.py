"""Shared test configuration."""

import os

import matplotlib
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")

# Deadlines are off: the CI machine has two cores and tests share them; hypothesis checks laws,
# not speed. Benchmarks in benchmarks/ measure speed.
settings.register_profile(
    "default",
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
