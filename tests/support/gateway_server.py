"""A gateway served for real (uvicorn on 127.0.0.1, in a background thread), for tests
that need a listening server: registry notifications, streaming over real sockets."""

from __future__ import annotations

import tempfile
import threading
from typing import Any

import httpx
import uvicorn

from gateway.main import create_app
from gateway.settings import Settings
from harness.waiting import eventually


class GatewayServer:
    """A gateway served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, registry_url: str, port: int, **settings: Any) -> None:
        # A data folder of its own unless named: never the working folder's data/.
        settings.setdefault("data_dir", tempfile.mkdtemp(prefix="lr-data-"))
        app = create_app(Settings(_env_file=None, registry_url=registry_url, **settings))  # type: ignore[call-arg]
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.run, name="gateway", daemon=True)

    def start(self) -> GatewayServer:
        self.thread.start()
        with httpx.Client(trust_env=False, timeout=2) as client:

            def healthy() -> bool:
                if not self.thread.is_alive():
                    raise RuntimeError("the gateway server exited while starting")
                return client.get(f"{self.url}/api/health").status_code == 200

            try:
                eventually(healthy, retry=(httpx.TransportError,))
                return self
            except AssertionError:
                pass
        self.stop()
        raise RuntimeError("the gateway server did not become healthy")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the gateway server did not stop"
