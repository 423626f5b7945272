"""Theme files (YAML) shipped in `zeta_console.themes`, turned into Textual themes."""

from __future__ import annotations

import dataclasses
from importlib import resources
from typing import Any

import yaml
from textual.theme import Theme

THEME_FIELDS = frozenset(field.name for field in dataclasses.fields(Theme))

# The console's own colours. Themes may override any of them under `variables:`; these
# defaults, colours of the theme's own colour system, keep Textual's built-in themes usable.
THEME_VARIABLE_DEFAULTS: dict[str, str] = {
    "latency-good": "$success",
    "latency-warn": "$warning",
    "latency-bad": "$error",
    "status-up": "$success",
    "status-degraded": "$warning",
    "status-down": "$error",
    "status-ejected": "$error",
    "status-drained": "$foreground-muted",
    "status-missing": "$warning",
    "badge-simulated": "$secondary",
    "badge-paused": "$warning",
    "badge-serving": "$primary",
    "sparkline-ttft": "$primary",
    "sparkline-latency": "$accent",
}


def theme_variable_defaults(theme: Theme) -> dict[str, str]:
    """THEME_VARIABLE_DEFAULTS as `theme`'s colours.

    Textual substitutes a variable's value as written, so an unresolved "$accent" reached the CSS
    parser and a theme without the console's variables (Textual's built-ins) crashed the app.
    """
    colours = theme.to_color_system().generate()
    return {name: colours[reference.removeprefix("$")] for name, reference in THEME_VARIABLE_DEFAULTS.items()}


class ThemeFileError(ValueError):
    pass


def theme_from_mapping(data: Any, origin: str) -> Theme:
    if not isinstance(data, dict):
        raise ThemeFileError(f"{origin}: a theme file must be a mapping")
    unknown = set(data) - THEME_FIELDS
    if unknown:
        raise ThemeFileError(f"{origin}: unknown keys {', '.join(sorted(unknown))}")
    if "name" not in data or "primary" not in data:
        raise ThemeFileError(f"{origin}: 'name' and 'primary' are required")
    try:
        theme = Theme(**data)
        theme.to_color_system().generate()  # fails here, not at render, on a bad colour
    except Exception as error:
        raise ThemeFileError(f"{origin}: {error}") from error
    return theme


def load_builtin_themes() -> tuple[list[Theme], list[str]]:
    """Every theme file in the package, plus one message per file that could not be loaded."""
    themes: list[Theme] = []
    problems: list[str] = []
    for entry in sorted(resources.files("zeta_console.themes").iterdir(), key=lambda item: item.name):
        if not entry.name.endswith(".yaml"):
            continue
        try:
            themes.append(theme_from_mapping(yaml.safe_load(entry.read_text(encoding="utf-8")), entry.name))
        except (ThemeFileError, yaml.YAMLError) as error:
            problems.append(str(error))
    return themes, problems
