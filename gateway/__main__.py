"""``python -m gateway`` / ``light-registry``: serve the app with uvicorn."""

from __future__ import annotations

import argparse
import sys

from gateway.settings import SettingsError, get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="light-registry", description="Serve the Light Registry gateway."
    )
    parser.add_argument("--host", help="bind address (default: LR_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: LR_PORT, 8000)")
    args = parser.parse_args(argv)
    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    try:
        settings = get_settings(**overrides)
    except SettingsError as exc:
        print(f"light-registry: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from gateway.http_protocol import protocol_class
    from gateway.logs import configure_logging
    from gateway.main import create_app

    # One handler for every logger, uvicorn's included (log_config=None: uvicorn's
    # loggers propagate to it); the request log replaces uvicorn's access log.
    configure_logging(settings.log_level, settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        log_level=settings.log_level,
        proxy_headers=False,
        server_header=False,
        # uvicorn's own 400s (requests it cannot parse) in the envelope too.
        http=protocol_class(),
        # On SIGTERM: stop accepting, let in-flight requests (blob streams included)
        # finish for this long, then cancel them; the lifespan then closes the pools.
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
