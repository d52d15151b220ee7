"""Everything that talks to the registry. Imports nothing from FastAPI."""
