"""Fixtures every test directory may use by name."""

pytest_plugins = ["tests.xdg"]  # isolated_xdg
