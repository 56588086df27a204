"""Hypothesis settings for where the suite runs: ``ci`` when CI=true, ``default`` elsewhere.

A CI runner shares its cores with other jobs: a test that draws its examples slowly under load
is not a failing test (a ``too_slow`` health check failed there once), and a per-example
deadline measures the machine, not the code. In CI the examples are derandomized (a red build
reruns the same) and a failure prints the blob that reproduces it.

Hypothesis guesses CI by itself from many variables (any value of ``CI``, ``GITHUB_ACTIONS``...)
and its built-in ``ci`` profile varies between versions; the suite's one switch is CI=true (as
for tools that are missing), so the profile is defined and chosen here.
"""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import HealthCheck, settings

CI_PROFILE = "ci"
LOCAL_PROFILE = "default"

settings.register_profile(
    CI_PROFILE,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,  # a runner's example database is thrown away with the runner
    print_blob=True,
)


def load_profile(environ: Mapping[str, str]) -> str:
    """Load the profile for this environment; return its name."""
    name = CI_PROFILE if environ.get("CI") == "true" else LOCAL_PROFILE
    settings.load_profile(name)
    return name
