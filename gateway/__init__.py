"""Light Registry: a gateway that gives a registry UI fast, safe JSON over any v2 registry."""

__version__ = "0.1.0"
