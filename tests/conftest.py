"""Shared test set-up: hypothesis profiles and float64 as the default dtype for checks.

Profiles (choose with HYPOTHESIS_PROFILE=...):
  ci        derandomized, a modest number of examples; what .ci/run uses (and the default)
  thorough  many examples, for local runs before a release
"""

import os

import pytest
from hypothesis import HealthCheck, settings

import minisensli as ms

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def float64_default():
    """Checks run in float64; each test starts from that default and the old one is restored."""
    previous = ms.get_default_dtype()
    ms.set_default_dtype("float64")
    yield
    ms.set_default_dtype(previous)
