"""Zeta console: an operations console and in-process router for local Ollama models."""

__version__ = "0.1.0"
