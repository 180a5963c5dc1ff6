"""Shared pytest set-up: a deterministic hypothesis profile."""
import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is a test extra; test_properties skips without it
    pass
else:
    # "ci" (the default): derandomized, no example database, so every run draws the same
    # examples and a failure reproduces from the log alone. "dev" explores further:
    # HYPOTHESIS_PROFILE=dev pytest tests/test_properties.py
    settings.register_profile("ci", max_examples=80, deadline=None, derandomize=True,
                              database=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("dev", max_examples=1000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
