"""Wire models (what the registry sends) and API models (what the SPA receives)."""
