"""The one uvicorn configuration every bench server runs under (the gateway, the bare
app, the stand-in registry), so their figures compare like with like."""

from __future__ import annotations

from typing import Any

LOOP, HTTP = "uvloop", "httptools"  # the same for every server (uvicorn's "auto" picks these)


def uvicorn_run(app: Any, port: int) -> None:
    """The one uvicorn configuration both the gateway and the bare app are served with."""
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        workers=1,
        loop=LOOP,
        http=HTTP,
        log_config=None,
        access_log=False,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
