"""The OCI distribution-spec conformance suite through /v2, compared with the registry.

For distribution 3.0 and 3.1: the suite (all four workflows in one run) against a fresh
registry alone, and against a fresh one behind the gateway in push mode with deletes
on, both at once. Compared leaf by leaf: the gateway must pass every test the registry
passes, and every referrers/subject test (which distribution fails: it has no referrers
API) must pass through the gateway. docs/conformance.md has the figures and
``python -m harness.conformance`` prints them again.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from harness.conformance import Results, lost, run_suite, table
from harness.registry import free_port
from tests.support.fixtures import require_peer
from tests.support.gateway_server import GatewayServer


@pytest.mark.parametrize("version", ["3.0", "3.1"])
def test_the_gateway_loses_no_conformance_test_and_passes_the_referrers_ones(
    registry_factory: Any, tmp_path: Path, version: str
) -> None:
    require_peer("conformance")
    alone = registry_factory(version=version)
    behind = registry_factory(version=version)
    gateway = GatewayServer(
        behind.url, free_port(), v2_mode="push", delete_enabled=True, data_dir=tmp_path / "gw"
    ).start()
    try:
        with ThreadPoolExecutor(2) as pool:  # the two runs share nothing: side by side
            base_run = pool.submit(run_suite, alone.host, tmp_path / "registry")
            gateway_run = pool.submit(
                run_suite, gateway.url.removeprefix("http://"), tmp_path / "gw-results"
            )
            base: Results = base_run.result()
            through: Results = gateway_run.result()
    finally:
        gateway.stop()
    report = table({"registry alone": base, "through the gateway": through})
    print(f"\ndistribution {version}\n{report}")

    losses = lost(base, through)
    assert not losses, "the gateway fails what the registry passes:\n" + "\n".join(losses)
    referrers = [leaf for leaf in through.leaves if leaf.about_referrers]
    assert referrers, "the suite ran no referrers or subject test"
    failing = [
        f"{leaf.name} #{leaf.occurrence}: {leaf.status}" for leaf in through.failing(referrers)
    ]
    assert not failing, "referrers/subject tests fail through the gateway:\n" + "\n".join(failing)
    # the registry alone fails them: the gateway is what makes them pass
    assert base.failing(leaf for leaf in base.leaves if leaf.about_referrers)
    assert through.passed > base.passed
