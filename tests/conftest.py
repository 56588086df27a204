"""Suite-wide set-up: the shared fixtures of tests/support and the hypothesis profile."""

from __future__ import annotations

import os

from tests.support.hypothesis_profiles import load_profile

# Fixtures several test packages use, defined once (a plugin module is a fixture module).
pytest_plugins = ["tests.support.netns", "tests.support.sdl"]

load_profile(os.environ)
