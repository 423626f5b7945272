"""Built-in colour themes (YAML), shipped as zeta_console.themes."""
