"""`troly serve` as an operator runs it: a real process, a real port, real signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

TROLY = [sys.executable, "-m", "bot"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TROLY_", "TELEGRAM_", "ZALO_"))}
    env.update(extra)
    return env


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"server did not answer {url} within {seconds}s")


def test_serve_in_an_empty_directory_answers_health_and_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*TROLY, "serve"], cwd=tmp_path, env=_env(tmp_path, TROLY_HTTP_PORT=str(port)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(base + "/healthz", process)
        status, body = _get(base + "/healthz")
        assert status == 200 and '"database": "up"' in body
        status, body = _get(base + "/metrics")
        assert status == 200
        assert "troly_up 1.0" in body
        assert 'troly_http_requests_total{route="/healthz",status="200"}' in body
        assert (tmp_path / "troly.db").exists(), "the default database is a SQLite file in the working directory"

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        assert code == 0
        assert time.monotonic() - started < 5
        stderr = process.stderr.read().decode() if process.stderr else ""
        assert "Traceback" not in stderr
        assert '"msg": "stopped"' in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TROLY_HTTP_PORT", "abc"), ("TROLY_HTTP_PORT", "70000"), ("TROLY_TIMEZONE", "Sao Hỏa"),
     ("TELEGRAM_BROADCAST_RATE", "nhanh"), ("TROLY_WORKING_HOURS", "25:00-17:00"),
     ("TROLY_WORKING_HOURS", "17:00-07:30"), ("TROLY_WORKING_DAYS", "6-1"), ("TROLY_HOLIDAYS", "2026-02-30"),
     ("TROLY_AREAS", " , ")],
)
def test_a_bad_setting_gives_one_clear_line(tmp_path: Path, variable: str, value: str) -> None:
    result = subprocess.run(
        [*TROLY, "serve"], cwd=tmp_path, env=_env(tmp_path, **{variable: value}),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0] and "không hợp lệ" in lines[0]
    assert "Traceback" not in result.stderr


def _settings_seen_in(directory: Path, **extra: str) -> dict[str, object]:
    """What `troly` would read, started in `directory` (where its `.env` is), as JSON from a child process."""
    program = ("import json; from bot.settings import load_settings as l; s = l(); print(json.dumps({"
               "'telegram': s.telegram_enabled, 'zalo': s.zalo_enabled, 'public_url': s.public_url, "
               "'volunteer_chat': s.telegram_volunteer_chat_id, 'areas': list(s.areas)}))")
    result = subprocess.run([sys.executable, "-c", program], cwd=directory, env=_env(directory, **extra),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seen: dict[str, object] = json.loads(result.stdout)
    return seen


def test_the_example_env_file_starts_with_every_channel_off(tmp_path: Path) -> None:
    """`.env.example` lists every variable as `VAR=`: empty is unset, not an empty token, chat id or key."""
    shutil.copy(Path(__file__).resolve().parent.parent / ".env.example", tmp_path / ".env")
    seen = _settings_seen_in(tmp_path)
    assert seen == {"telegram": False, "zalo": False, "public_url": None, "volunteer_chat": None,
                    "areas": ["Tổ dân phố 1", "Tổ dân phố 2", "Tổ dân phố 3"]}


def test_empty_zalo_keys_in_the_environment_do_not_enable_an_unverifiable_webhook(tmp_path: Path) -> None:
    seen = _settings_seen_in(tmp_path, ZALO_APP_ID="", ZALO_OA_SECRET_KEY="", ZALO_APP_SECRET="",
                             TELEGRAM_BOT_TOKEN="")
    assert seen["zalo"] is False and seen["telegram"] is False


def test_half_a_zalo_configuration_is_refused_without_echoing_secrets(tmp_path: Path) -> None:
    result = subprocess.run(
        [*TROLY, "serve"], cwd=tmp_path,
        env=_env(tmp_path, ZALO_APP_ID="4321", ZALO_APP_SECRET="app-secret-value", ZALO_ACCESS_TOKEN="tok-value"),
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "ZALO_OA_SECRET_KEY" in lines[0]
    assert "app-secret-value" not in result.stderr and "tok-value" not in result.stderr


async def test_healthz_is_503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.runtime import Runtime
    from bot.settings import load_settings
    from bot.web.app import build_app

    # Nothing listens on this port: the database "is down".
    settings = load_settings(TROLY_DATABASE_URL=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x")
    runtime = Runtime.build(settings)
    async with TestClient(TestServer(build_app(runtime))) as client:
        response = await client.get("/healthz")
        assert response.status == 503
        assert (await response.json())["database"] == "down"
    await runtime.close()
