"""Test-wide settings: hypothesis profiles chosen by $SHOAL_HYPOTHESIS_PROFILE (default `ci`)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("fast", max_examples=50, deadline=None)
settings.register_profile("ci", max_examples=300, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("deep", max_examples=5_000, deadline=None)
settings.load_profile(os.environ.get("SHOAL_HYPOTHESIS_PROFILE", "ci"))
