"""Which fleet `--demo` starts: the emulated Ollama fleet, or `--demo real`'s llama.cpp servers.

Its own module so the console, serve and `route` read the choice without importing the command line."""

DEMO_EMULATED, DEMO_REAL = "emulated", "real"  # args.demo
