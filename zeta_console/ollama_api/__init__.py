"""Ollama's HTTP API rules as both sides of it here speak them: the emulator (`sim`) and the
Ollama-compatible endpoint (`serve`). Error envelope, Go-style body decoding, field parsing and
model-name matching live here so neither side imports the other."""
