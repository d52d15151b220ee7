"""``python -m gateway`` as a real process, for tests of start-up and shutdown.

``serve(*args, env=, port=, cwd=)`` (a fixture) starts one with its output in a log
file (``harness.processes.Served``); every process started is stopped by its PID at the
end of the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.processes import Served, clean_env

__all__ = ["Served", "clean_env", "serve"]

@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """``serve(*args, env=, port=, cwd=)`` starts ``python -m gateway`` (which is to listen
    on ``port``); every process started is stopped by its PID at the end."""
    started: list[Served] = []

    def start(*args: str, env: dict[str, str], port: int, cwd: Path = tmp_path) -> Served:
        log = tmp_path / f"gateway-{len(started)}.log"
        served = Served.start(*args, env=env, port=port, cwd=cwd, log=log)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()
