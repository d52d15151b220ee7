"""What the tests (``tests/``), the benchmarks (``bench/``) and the scripts (``scripts/``)
run against: real servers started on 127.0.0.1 — a distribution registry (3.0 by
default, Debian's 2.8 or 3.1 when asked), its token server, Redis, gateway replicas, a
registry with the OCI referrers API — images pushed to them, the real-world documents,
the Go programs built and cached from the Go module proxy (``go_peers``: registries,
crane, oras, the OCI conformance suite; our own under ``peers/``), the conformance run
and its comparison (``conformance``), and one way to wait for something that happens on
its own time (``waiting.eventually``).

Nothing here is a test: ``tests/support`` holds what only the tests use (fixtures,
assertions, the mock registry, browsers). ``bench/`` and ``scripts/`` import this, never
``tests/``.
"""
