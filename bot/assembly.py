"""Which services and routes a process runs, decided from the settings."""

from __future__ import annotations

from collections import ChainMap

from bot.channels.base import Sender
from bot.channels.webchat import WebChat
from bot.handoff_timers import HandoffTimers
from bot.housekeeping import Housekeeping
from bot.outbox import services_and_mounts as campaign_parts
from bot.pipeline import Pipeline
from bot.runtime import Runtime
from bot.server import Service
from bot.store.faq_edits import EditWatcher
from bot.store.sqlite_inline import checkpointer_for
from bot.web.admin import Dashboard
from bot.web.app import Mount
from faq.content import load_content


def assemble(runtime: Runtime) -> tuple[list[Service], list[Mount]]:
    settings = runtime.settings
    pipeline = Pipeline(runtime)
    services: list[Service] = []
    mounts: list[Mount] = []

    webchat = WebChat(runtime, pipeline)
    pipeline.add_sender(webchat.sender)
    mounts.append(webchat.mount)

    # Platform SDKs are imported only when their channel is enabled.
    if settings.telegram_enabled:
        from bot.channels.telegram import TelegramChannel

        telegram = TelegramChannel(settings, pipeline, runtime.metrics, sessions=runtime.sessions)
        pipeline.add_sender(telegram)
        services.append(telegram)
        mounts.append(telegram.mount)

    if settings.zalo_enabled:
        from bot.channels.zalo import ZaloChannel
        from bot.channels.zalo_tokens import TokenKeeper, ZaloTokens

        zalo = ZaloChannel(settings, pipeline, runtime.metrics, ZaloTokens(runtime.sessions, settings, None))
        pipeline.add_sender(zalo)
        services.append(zalo)
        services.append(TokenKeeper(zalo.tokens))
        mounts.append(zalo.mount)

    # The outbox reaches a web chat by storing the message for the page to poll; the pipeline's web sender stores
    # nothing, its turns' replies being stored already. Every other channel has one sender for both.
    outbox_senders: ChainMap[str, Sender] = ChainMap({"web": webchat.outbox_sender}, pipeline.senders)
    campaign_services, campaign_mounts = campaign_parts(runtime, outbox_senders)
    services += campaign_services
    mounts += campaign_mounts

    # The dashboard tells the scheduler about campaigns created or cancelled there, as the API does.
    scheduler = next((s for s in campaign_services if s.name == "campaign-scheduler"), None)
    mounts.append(Dashboard(on_campaign_change=getattr(scheduler, "refresh", None)).mount)

    services.append(pipeline.delivery_log)
    services.append(HandoffTimers(pipeline))
    services.append(Housekeeping(runtime))
    # FAQ edits saved by another process reach this one within its polling interval.
    services.append(EditWatcher(runtime.sessions, runtime.knowledge, load_content()))
    checkpointer = checkpointer_for(runtime.engine)
    if checkpointer is not None:
        services.append(checkpointer)
    return services, mounts
