"""Starting the gateway: ``python -m gateway`` / ``light-registry``, settings from the
environment and ``.env``, one-line errors for bad settings, and a real start."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.settings import Settings, SettingsError, get_settings
from harness.registry import RegistryProcess, free_port
from tests.support.served import clean_env


def run_gateway(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "gateway", *args],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *names: str) -> str:
    assert result.returncode != 0, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert "Traceback" not in result.stderr
    for name in names:
        assert name in line, line
    return line


# -- bad settings: one line on stderr, non-zero, no traceback --------------------------------


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"LR_PORT": "99999"}, "LR_PORT"),
        ({"LR_PORT": "0"}, "LR_PORT"),
        ({"LR_PORT": "http"}, "LR_PORT"),
        ({"LR_REGISTRY_URL": "notaurl"}, "LR_REGISTRY_URL"),
        ({"LR_REGISTRY_URL": "ftp://registry:5000"}, "LR_REGISTRY_URL"),
        ({"LR_REGISTRY_URL": "http://registry:99999"}, "LR_REGISTRY_URL"),
        ({"LR_REGISTRY_URL": "http://registry:5000/?x=1"}, "LR_REGISTRY_URL"),
        ({"LR_PUBLIC_URL": "registry.example.com"}, "LR_PUBLIC_URL"),
        ({"LR_CORS_ORIGINS": "*"}, "LR_CORS_ORIGINS"),
        ({"LR_CORS_ORIGINS": "https://ui.example.com/app"}, "LR_CORS_ORIGINS"),
        ({"LR_DELETE_ENABLED": "maybe"}, "LR_DELETE_ENABLED"),
        ({"LR_LOG_LEVEL": "verbose"}, "LR_LOG_LEVEL"),
        ({"LR_CACHE_TTL": "-1"}, "LR_CACHE_TTL"),
        ({"LR_READ_TIMEOUT": "0"}, "LR_READ_TIMEOUT"),
        ({"LR_COOKIE_SECURE": "yes"}, "LR_COOKIE_SECURE"),
        ({"LR_UPSTREAM_CONCURRENCY": "0"}, "LR_UPSTREAM_CONCURRENCY"),
    ],
)
def test_bad_setting_is_one_line(tmp_path: Path, env: dict[str, str], setting: str) -> None:
    result = run_gateway(tmp_path, env=clean_env(**env))
    line = assert_one_line_error(result, setting)
    assert line.startswith("light-registry: ")
    assert result.returncode == 2


def test_several_bad_settings_are_named_on_one_line(tmp_path: Path) -> None:
    result = run_gateway(tmp_path, env=clean_env(LR_PORT="99999", LR_REGISTRY_URL="notaurl"))
    assert_one_line_error(result, "LR_PORT", "LR_REGISTRY_URL")


def test_bad_port_on_the_command_line_is_one_line(tmp_path: Path) -> None:
    result = run_gateway(tmp_path, "--port", "99999")
    assert_one_line_error(result, "LR_PORT")


def test_credentials_in_the_registry_url_are_refused_without_echo(tmp_path: Path) -> None:
    env = clean_env(LR_REGISTRY_URL="http://admin:hunter2-secret@registry:5000")
    result = run_gateway(tmp_path, env=env)
    assert_one_line_error(result, "LR_REGISTRY_URL")
    assert "hunter2-secret" not in result.stderr


def test_bad_setting_in_dotenv_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LR_REGISTRY_URL=notaurl\n", encoding="utf-8")
    assert_one_line_error(run_gateway(tmp_path), "LR_REGISTRY_URL")


def test_dotenv_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    # What `echo LR_PORT=8080 > .env` writes in Windows PowerShell 5: UTF-16 with a BOM.
    (tmp_path / ".env").write_bytes("LR_PORT=8080\r\n".encode("utf-16"))
    assert_one_line_error(run_gateway(tmp_path), ".env")


def test_environment_overrides_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LR_PORT=99999\n", encoding="utf-8")
    # The environment wins; its value is the one reported.
    result = run_gateway(tmp_path, env=clean_env(LR_PORT="70000"))
    line = assert_one_line_error(result, "LR_PORT")
    assert "65535" in line


def test_get_settings_error_is_one_line() -> None:
    with pytest.raises(SettingsError) as info:
        get_settings(_env_file=None, port=99999, registry_url="notaurl")
    message = str(info.value)
    assert "\n" not in message
    assert "LR_PORT" in message and "LR_REGISTRY_URL" in message


# -- help and the console script --------------------------------------------------------------


def test_help(tmp_path: Path) -> None:
    result = run_gateway(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    assert "light-registry" in result.stdout
    assert "--port" in result.stdout and "--host" in result.stdout
    assert result.stderr == ""


def test_help_works_even_with_bad_settings(tmp_path: Path) -> None:
    result = run_gateway(tmp_path, "--help", env=clean_env(LR_PORT="99999"))
    assert result.returncode == 0, result.stderr


def test_console_script_is_installed(tmp_path: Path) -> None:
    scripts = [
        e
        for e in importlib.metadata.entry_points(group="console_scripts")
        if e.name == "light-registry"
    ]
    assert [e.value for e in scripts] == ["gateway.__main__:main"]
    beside = Path(sys.executable).parent / "light-registry"
    script = str(beside) if beside.exists() else shutil.which("light-registry")
    assert script is not None, "the light-registry console script is not on PATH"
    result = subprocess.run(  # noqa: S603 - fixed argv
        [script, "--help"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: light-registry" in result.stdout


# -- a real start ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream(registry_factory: Any) -> RegistryProcess:
    reg: RegistryProcess = registry_factory()
    return reg


def test_real_start_serves_health_and_docs(upstream: RegistryProcess, serve: Any) -> None:
    port = free_port()
    env = clean_env(
        LR_REGISTRY_URL=upstream.url,
        LR_REGISTRY_USERNAME="svc",
        LR_REGISTRY_PASSWORD="hunter2-secret",
    )
    served = serve("--port", str(port), env=env, port=port)
    health = served.wait_ready()
    assert health.status_code == 200, health.text
    assert health.json()["registry"]["url"] == upstream.url
    assert health.json()["registry"]["api_version"] == "registry/2.0"
    with httpx.Client(trust_env=False, timeout=5) as client:
        docs = client.get(served.url + "/docs")
        assert docs.status_code == 200
        assert "text/html" in docs.headers["content-type"]
        spec = client.get(served.url + "/openapi.json")
        assert spec.status_code == 200
        assert "/api/health" in spec.json()["paths"]
        missing = client.get(served.url + "/api/nope")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "NOT_FOUND"
        assert client.get(served.url + "/api/repositories").status_code == 200
    assert served.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM once shut down
    output = served.output()
    assert "Application shutdown complete" in output
    assert "hunter2-secret" not in output
    assert "Traceback" not in output


def test_real_start_reads_dotenv_in_the_working_directory(
    upstream: RegistryProcess, serve: Any, tmp_path: Path
) -> None:
    port = free_port()
    workdir = tmp_path / "deploy"
    workdir.mkdir()
    (workdir / ".env").write_text(
        f"# settings for this deployment\nLR_REGISTRY_URL={upstream.url}\nLR_PORT={port}\n",
        encoding="utf-8",
    )
    # No LR_* in the environment, no arguments: the port and the registry come from .env.
    served = serve(env=clean_env(), port=port, cwd=workdir)
    health = served.wait_ready()
    assert health.status_code == 200, health.text
    assert health.json()["registry"]["url"] == upstream.url
    assert served.stop() in (0, -signal.SIGTERM)


# -- secrets ---------------------------------------------------------------------------------------


def test_secrets_are_not_in_repr() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        registry_username="svc",
        registry_password="hunter2-secret",
        events_token="t0ken-secret",
    )
    for text in (repr(settings), str(settings), settings.model_dump_json(), repr(vars(settings))):
        assert "hunter2-secret" not in text
        assert "t0ken-secret" not in text
    assert settings.registry_password is not None
    assert settings.registry_password.get_secret_value() == "hunter2-secret"
    assert settings.events_token is not None
    assert settings.events_token.get_secret_value() == "t0ken-secret"


def test_secrets_from_dotenv_are_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("LR_")]:
        monkeypatch.delenv(key)
    (tmp_path / ".env").write_text(
        "LR_REGISTRY_PASSWORD=hunter2-secret\nLR_EVENTS_TOKEN=t0ken-secret\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    settings = get_settings()
    assert settings.registry_password is not None
    assert settings.registry_password.get_secret_value() == "hunter2-secret"
    assert "hunter2-secret" not in repr(settings)
    assert "t0ken-secret" not in repr(settings)


def test_token_realm_allowlist_takes_hosts_only() -> None:
    from gateway.settings import SettingsError, get_settings

    ok = get_settings(_env_file=None, token_realm_allowlist="Auth.Example.com, 127.0.0.2,[::1]")
    assert ok.token_realm_allowlist == ["auth.example.com", "127.0.0.2", "::1"]
    for bad in ("[", "https://auth.example.com", "auth.example.com:443", "a b"):
        with pytest.raises(SettingsError, match="LR_TOKEN_REALM_ALLOWLIST"):
            get_settings(_env_file=None, token_realm_allowlist=bad)
