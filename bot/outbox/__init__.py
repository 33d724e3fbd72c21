"""Durable, rate-limited delivery of broadcasts, and the wiring of the campaign parts into a process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.channels.base import Sender
    from bot.runtime import Runtime
    from bot.server import Service
    from bot.web.app import Mount


def services_and_mounts(runtime: Runtime, senders: Mapping[str, Sender]) -> tuple[list[Service], list[Mount]]:
    """The outbox sender, the campaign scheduler (started after it) and the staff API.

    `senders` is kept by reference, so pass the pipeline's own mapping after the channels are set up.
    """
    from bot.outbox.sender import OutboxSender
    from bot.scheduler.campaigns import CampaignScheduler
    from bot.web.api import CampaignApi

    sender = OutboxSender(runtime, senders, rate=runtime.settings.telegram_broadcast_rate)
    scheduler = CampaignScheduler(runtime, on_fired=sender.wake)
    api = CampaignApi(runtime, on_change=scheduler.refresh)
    return [sender, scheduler], [api.mount]
