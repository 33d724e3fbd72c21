"""Personal data: retention, a resident's export, erasure by staff, the audit log."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.pipeline import Pipeline
from bot.runtime import Runtime
from bot.settings import load_settings
from bot.store import migrate
from bot.store.models import Identity, Message, ProcessedUpdate
from bot.store.privacy import apply_retention
from handlers.messages import Incoming, Kind

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


async def _talk(url: str, when: datetime, user: str = "z9", text: str = "vneid quen mat khau") -> None:
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=url))
    runtime.now = lambda: when
    await migrate.upgrade(runtime.engine)
    pipeline = Pipeline(runtime, {})
    await pipeline.receive(Incoming("zalo", user, Kind.TEXT, text=text, update_key=f"{user}-{when.timestamp()}",
                                    received_at=when))
    await runtime.close()


async def test_retention_clears_old_texts_and_keeps_the_figures(migrated_engine: object, database_url: str) -> None:
    await _talk(database_url, NOW - timedelta(days=200))
    await _talk(database_url, NOW - timedelta(days=1), text="đăng ký khai sinh online")
    runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=database_url))
    async with runtime.sessions() as session, session.begin():
        counts = await apply_retention(session, NOW, 180)
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id))).all()
        keys = await session.scalar(select(func.count()).select_from(ProcessedUpdate))
    await runtime.close()
    assert counts["message_texts_cleared"] >= 1
    assert rows[0].text is None and rows[0].faq_id is not None  # the figure stays for reports
    assert rows[1].text == "đăng ký khai sinh online"
    assert keys == 1 and counts["update_keys_deleted"] == 1


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(argv))
    captured = capsys.readouterr()
    return int(exit_.value.code or 0), captured.out, captured.err


def test_staff_export_then_erase_a_resident_and_see_it_in_the_audit_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    asyncio.run(_talk(url, NOW, user="z1"))
    asyncio.run(_talk(url, NOW, user="z2"))
    monkeypatch.setenv("TROLY_DATABASE_URL", url)

    code, out, _ = _run(capsys, "resident", "export", "zalo:z1")
    data = json.loads(out)
    assert code == 0 and data["identities"][0]["user_id"] == "z1"
    assert any(m["text"] == "vneid quen mat khau" for m in data["messages"])

    assert _run(capsys, "resident", "erase", "zalo:z1")[0] == 0
    assert _run(capsys, "resident", "export", "zalo:z1")[0] == 1
    assert _run(capsys, "resident", "export", "fax:1")[0] == 2

    async def identities() -> list[str]:
        runtime = Runtime.build(load_settings(TROLY_DATABASE_URL=url))
        async with runtime.sessions() as session:
            found = list(await session.scalars(select(Identity.external_id)))
        await runtime.close()
        return found

    assert asyncio.run(identities()) == ["z2"]
    code, out, _ = _run(capsys, "audit")
    assert "resident.export" in out and "resident.erase" in out
    # the erasure itself is on record, but the erased resident's address is not kept
    assert "zalo:z1" in out  # the erase entry is written after the scrub and names what was erased
    assert out.count("zalo:z1") == 1
