"""The allocator's thresholds (gateway/registry/allocator.py): set once on glibc, left
alone when the environment sets them."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CHECK = "from gateway.registry import allocator; print(allocator.tune(), allocator.tune())"


def _run(env: dict[str, str]) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", CHECK],
        env={**base, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_set_once_on_glibc() -> None:
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert _run({}) == "True True"


def test_left_alone_when_the_environment_sets_them() -> None:
    assert _run({"MALLOC_TRIM_THRESHOLD_": "131072"}) == "False False"
