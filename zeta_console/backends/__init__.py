"""The seam between the router and model servers: neutral types (`types`), the `Backend` protocol
(`protocol`), one module per kind of server (`ollama`), and the registry that picks one per host
(`registry`). Nothing here imports the router."""
