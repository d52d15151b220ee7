"""Benchmarks of the gateway against a real registry (see bench/README.md)."""
