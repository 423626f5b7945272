"""Fixtures every test directory may use by name."""

pytest_plugins = ["tests.xdg", "tests.llama_fleet"]  # isolated_xdg; llama_servers, tiny_model
