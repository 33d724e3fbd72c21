"""Mistakes an operator makes while following the README, on real `troly` processes: each reads as one Vietnamese
line with a non-zero exit (2: configuration, 1: at run time), never a traceback; and what is silently off at
start is said in the log."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from bot.store.migrate import alembic_config
from tests.conftest import free_port
from tests.fakes.telegram_api import FakeTelegram
from tests.test_serve import TROLY, _env, _get, _wait_for


def troly(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TROLY, *args], cwd=tmp_path, env=_env(tmp_path, **env), capture_output=True, text=True,
                          timeout=120)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single line a refused command says on stderr."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def log_records(stderr: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


# ---- troly db downgrade ----------------------------------------------------------------------------------------


def revision_now(tmp_path: Path) -> str:
    result = troly(tmp_path, "db", "current")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_downgrade_needs_a_revision_and_yes_before_it_empties_the_database(tmp_path: Path) -> None:
    assert troly(tmp_path, "db", "upgrade").returncode == 0
    head = revision_now(tmp_path)
    every_migration = len(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))

    bare = troly(tmp_path, "db", "downgrade")
    assert bare.returncode == 2 and "revision" in bare.stderr
    assert revision_now(tmp_path) == head

    for everything in ("base", f"-{every_migration}"):
        refused = troly(tmp_path, "db", "downgrade", everything)
        assert refused.returncode == 2
        line = one_line(refused)
        assert "xoá" in line and "toàn bộ dữ liệu" in line and "--yes" in line
        assert revision_now(tmp_path) == head, f"downgrade {everything} without --yes changed the database"

    one_step = troly(tmp_path, "db", "downgrade", "-1")
    assert one_step.returncode == 0, one_step.stderr
    assert revision_now(tmp_path) != head

    agreed = troly(tmp_path, "db", "downgrade", "base", "--yes")
    assert agreed.returncode == 0, agreed.stderr
    assert revision_now(tmp_path) == "trống"


# ---- troly serve: setup mistakes -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [("serve",), ("db", "upgrade"), ("role", "list")])
def test_an_unreachable_database_is_one_line_naming_the_setting_without_its_password(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # Nothing listens on port 1.
    result = troly(tmp_path, *command, TROLY_DATABASE_URL="postgresql+asyncpg://postgres:mat-khau@127.0.0.1:1/troly")
    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("Không kết nối được cơ sở dữ liệu") and "TROLY_DATABASE_URL" in line
    assert "127.0.0.1:1/troly" in line and "mat-khau" not in result.stderr


def test_an_http_port_in_use_is_one_line_naming_the_port_and_its_setting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = troly(tmp_path, "serve", TROLY_HTTP_PORT=str(port))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    # Before it: the start's JSON log (migrations, "stopped"); the operator's line is the last one and the only other.
    lines = result.stderr.strip().splitlines()
    assert all(line.startswith("{") for line in lines[:-1]), result.stderr
    assert str(port) in lines[-1] and "TROLY_HTTP_PORT" in lines[-1] and "đang có chương trình khác dùng" in lines[-1]


@pytest.mark.parametrize(
    ("variable", "value", "explained"),
    [("TROLY_LOG_LEVEL", "LOUD", "cần DEBUG, INFO, WARNING, ERROR hoặc CRITICAL"),
     ("TROLY_LOG_FORMAT", "xml", "cần json hoặc text"),
     ("TROLY_WORKING_HOURS", "8-17", "cần dạng 07:30-17:00"),
     ("TROLY_WORKING_DAYS", "thu2", "cần dạng 1-6"),
     ("TROLY_HOLIDAYS", "2026/09/02", "cần dạng 2026-09-02"),
     ("TROLY_OUTBOX_LEASE_SECONDS", "2", "từ 5 đến 3600")],
)
def test_a_bad_setting_says_what_it_needs_in_words(tmp_path: Path, variable: str, value: str, explained: str) -> None:
    result = troly(tmp_path, "serve", **{variable: value})
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith(f"Lỗi cấu hình: {variable}=") and explained in line
    assert not any(regex in line for regex in ("^", "$", "\\d", "mẫu")), line


def test_campaign_text_from_a_missing_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "khong-co.txt"
    result = troly(tmp_path, "campaign", "create", "--title", "Nhắc kích hoạt VNeID", "--text", f"@{missing}")
    assert result.returncode == 2
    line = one_line(result)
    assert str(missing) in line and "không có tệp này" in line
    assert not (tmp_path / "troly.db").exists(), "nothing is created for a command refused before it starts"


# ---- troly serve: a start that leaves requests for a person unheard --------------------------------------------


def handoff_warnings(stderr: str) -> list[dict[str, object]]:
    return [r for r in log_records(stderr) if r["level"] == "warning" and "missing_settings" in r]


def serve_until_healthy(tmp_path: Path, **env: str) -> str:
    """Start `troly serve`, wait until it answers, stop it with SIGTERM; its stderr."""
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen([*TROLY, "serve"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=out,
                                   env=_env(tmp_path, TROLY_HTTP_PORT=str(port), **env))
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", process)
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return log.read_text()


def test_without_a_volunteers_group_the_start_warns_once_where_requests_for_a_person_go(tmp_path: Path) -> None:
    warnings = handoff_warnings(serve_until_healthy(tmp_path))
    assert len(warnings) == 1
    message = str(warnings[0]["msg"])
    assert "TELEGRAM_BOT_TOKEN" in message and "TELEGRAM_VOLUNTEER_CHAT_ID" in message
    assert "/admin/tickets" in message and "TROLY_ADMIN_TOKEN" in message
    assert warnings[0]["missing_settings"] == ["TELEGRAM_BOT_TOKEN", "TELEGRAM_VOLUNTEER_CHAT_ID"]


@pytest.mark.parametrize(("chat_id", "missing"), [(None, ["TELEGRAM_VOLUNTEER_CHAT_ID"]), ("-1001234567890", None)])
async def test_with_telegram_the_warning_names_only_the_missing_group_and_goes_once_it_is_set(
    tmp_path: Path, chat_id: str | None, missing: list[str] | None
) -> None:
    async with FakeTelegram.run() as telegram:
        env = {**telegram.env(), "TROLY_ADMIN_TOKEN": "ma-quan-tri"}
        if chat_id is not None:
            env["TELEGRAM_VOLUNTEER_CHAT_ID"] = chat_id
        # In a thread: the fake Bot API answers the process from this loop meanwhile.
        warnings = handoff_warnings(await asyncio.to_thread(serve_until_healthy, tmp_path, **env))
    if missing is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warnings[0]["missing_settings"] == missing
        assert "TELEGRAM_BOT_TOKEN" not in str(warnings[0]["msg"])
        assert "TROLY_ADMIN_TOKEN" not in str(warnings[0]["msg"]), "the dashboard's sign-in is set"


# ---- a misspelt setting ----------------------------------------------------------------------------------------


def test_a_misspelt_variable_is_warned_once_with_the_setting_it_was_meant_to_be(tmp_path: Path) -> None:
    # `role list` reads the settings twice; the test suite's own switch is not a misspelt setting.
    result = troly(tmp_path, "role", "list", TROLY_DATABSE_URL="sqlite+aiosqlite:///khac.db",
                   TROLY_REQUIRE_POSTGRES="1")
    assert result.returncode == 0 and "Chưa ai được cấp vai trò" in result.stdout
    assert one_line(result) == ("Cảnh báo: không nhận ra biến TROLY_DATABSE_URL trong môi trường nên đã bỏ qua; "
                                "có phải là TROLY_DATABASE_URL không?")

    (tmp_path / ".env").write_text("TELEGRAM_VOLUNTER_CHAT_ID=-1001234567890\n", encoding="utf-8")
    result = troly(tmp_path, "role", "list")
    assert result.returncode == 0
    assert one_line(result) == ("Cảnh báo: không nhận ra biến TELEGRAM_VOLUNTER_CHAT_ID trong tệp .env nên đã bỏ "
                                "qua; có phải là TELEGRAM_VOLUNTEER_CHAT_ID không?")


def test_a_misspelt_variable_is_said_before_the_setting_error_it_causes(tmp_path: Path) -> None:
    result = troly(tmp_path, "role", "list", ZALO_APP_ID="123", ZALO_OA_SECRET_KEY="k", ZALO_APP_SECRE="s")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    warning, error = result.stderr.strip().splitlines()
    assert "ZALO_APP_SECRE " in warning and "có phải là ZALO_APP_SECRET không?" in warning
    assert error.startswith("Lỗi cấu hình: Zalo cần cả ZALO_APP_SECRET")


def test_serve_logs_a_misspelt_variable_once_at_start(tmp_path: Path) -> None:
    records = [r for r in log_records(serve_until_healthy(tmp_path, TROLY_COMMUNE="Phường 7"))
               if "unknown_setting" in r]
    assert len(records) == 1, records
    assert records[0]["level"] == "warning" and records[0]["did_you_mean"] == "TROLY_COMMUNE_NAME"
    assert records[0]["unknown_setting"] == "TROLY_COMMUNE" and str(records[0]["msg"]).startswith("Không nhận ra")
