"""Wakes campaigns at their times. Our tables are the truth; APScheduler only holds wake-ups.

Each active campaign has at most one APScheduler job: a one-shot at its next occurrence (a recurrence is
computed with `CronTrigger.from_crontab` in TROLY_TIMEZONE), carrying that occurrence as the run's
`scheduled_for`. Firing is idempotent (a run is unique per campaign and time), so a wake-up, the start-up
sweep and another process may all try the same occurrence: one run results. The in-memory job store is
rebuilt from the tables at start and re-synchronised periodically (campaigns created by `troly campaign` or
another process are picked up that way).

Several processes on PostgreSQL: only the leader runs the jobs. Leadership is `pg_try_advisory_lock` held on a
dedicated connection; the others try again every `leader_retry_seconds`, and the leader checks its connection
as often, so when the leader dies (its connection closes, which frees the lock) another process takes over
within a few seconds and its start-up sweep fires what fell due meanwhile. Two processes briefly both acting
(the old leader not yet aware it lost the lock) cannot fire a run twice: firing is idempotent. SQLite: one
process, always leader. The gauge `troly_scheduler_leader` on /metrics is 1 on the leader, 0 elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]

from bot.periodic import Repeating
from bot.runtime import Runtime
from bot.store import campaigns, leases
from bot.store.models import Campaign

log = logging.getLogger(__name__)

RESYNC_SECONDS = 30.0
LEADER_RETRY_SECONDS = 5.0


class CampaignScheduler:
    name = "campaign-scheduler"

    def __init__(
        self, runtime: Runtime, on_fired: Callable[[], None] | None = None, resync_seconds: float = RESYNC_SECONDS,
        leader_retry_seconds: float = LEADER_RETRY_SECONDS,
    ) -> None:
        self.runtime = runtime
        self.on_fired = on_fired
        self.resync_seconds = resync_seconds
        self.leader_retry_seconds = leader_retry_seconds
        self._scheduler: AsyncIOScheduler | None = None
        self._leadership = (
            leases.Leadership(runtime.engine, "campaign-scheduler") if leases.is_shared(runtime.engine) else None
        )
        self._election: Repeating | None = None
        self._jobs: set[asyncio.Task[Any]] = set()  # the campaign jobs running now
        # campaign id → the occurrence its job waits for (what the tests and `troly campaign show` can read)
        self.planned: dict[int, datetime] = {}

    @property
    def is_leader(self) -> bool:
        """Whether this process runs the campaign jobs now."""
        return self._scheduler is not None

    async def start(self) -> None:
        if self._leadership is None:
            await self._lead()
            return
        await self._elect_once()
        self._election = Repeating(self.leader_retry_seconds, self._elect_once, name="leader-election",
                                   at_start=False)

    async def stop(self) -> None:
        if self._election is not None:
            await self._election.stop()
            self._election = None
        if self._scheduler is not None:
            # Cut mid-transaction, a job would be redone at the next start, but on PostgreSQL the cut breaks its
            # connection: no job starts now, and the running ones finish (within the server's stop timeout).
            self._scheduler.pause()
            if self._jobs:
                await asyncio.wait(self._jobs)
        self._step_down()
        if self._leadership is not None:
            await self._leadership.release()

    async def _lead(self) -> None:
        self.planned.clear()  # what a follower noted was never scheduled
        self._scheduler = AsyncIOScheduler(timezone=self.runtime.settings.timezone)
        self._scheduler.start()
        self.runtime.metrics.scheduler_leader.set(1)
        await self.sync()
        self._scheduler.add_job(
            self._job, "interval", args=[self.sync], seconds=self.resync_seconds, id="campaign-resync",
            coalesce=True, max_instances=1,
        )

    def _step_down(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        self.planned.clear()
        self.runtime.metrics.scheduler_leader.set(0)

    async def _elect_once(self) -> None:
        assert self._leadership is not None
        try:
            if self._leadership.held:
                if not await self._leadership.check():
                    log.warning("campaign scheduler lost leadership")
                    self._step_down()
            elif await self._leadership.acquire():
                log.info("campaign scheduler is the leader")
                await self._lead()
        except Exception:
            log.exception("leader election failed")
            if self._scheduler is not None and not self._leadership.held:
                self._step_down()

    async def sync(self, now: datetime | None = None) -> list[int]:
        """Fire what fell due (for a recurrence only its latest occurrence) and plan every next wake-up.

        Returns the ids of the runs fired.
        """
        now = now or self.runtime.now()
        zone = self.runtime.settings.timezone
        fired: list[int] = []
        async with self.runtime.sessions() as session:
            active = list(await campaigns.list_campaigns(session, campaigns.ACTIVE_STATES))
        wanted: set[int] = set()
        for campaign in active:
            try:
                async with self.runtime.sessions() as session:
                    last = await campaigns.last_run_time(session, campaign.id)
                due = campaigns.latest_due(campaign, now, zone, since=last)
                if due is not None:
                    run_id = await self.fire(campaign.id, due)
                    if run_id is not None:
                        fired.append(run_id)
                upcoming = campaigns.next_occurrence(campaign, max(now, last or now), zone)
            except Exception:
                log.exception("campaign sync failed", extra={"campaign_id": campaign.id})
                continue
            if upcoming is not None:
                wanted.add(campaign.id)
                self._plan(campaign.id, upcoming)
        for campaign_id in set(self.planned) - wanted:
            self._unplan(campaign_id)
        return fired

    async def refresh(self, campaign_id: int) -> None:
        """A campaign was created or cancelled through the API: act now rather than at the next resync."""
        async with self.runtime.sessions() as session:
            campaign = await campaigns.get_campaign(session, campaign_id)
        if campaign is None or campaign.status not in campaigns.ACTIVE_STATES:
            self._unplan(campaign_id)
            return
        await self.sync()

    async def fire(self, campaign_id: int, scheduled_for: datetime) -> int | None:
        """Create the run of one occurrence; None when it fired before or the campaign is no longer active."""
        now = self.runtime.now()
        async with self.runtime.sessions() as session, session.begin():
            campaign = await session.get(Campaign, campaign_id, with_for_update=True)
            if campaign is None:
                return None
            settings = self.runtime.settings
            run = await campaigns.fire_run(session, campaign, scheduled_for, now, settings.commune_name,
                                           zalo_promotion=settings.zalo_promotion_broadcasts)
            run_id = run.id if run is not None else None
        if run_id is not None:
            log.info("campaign fired", extra={"campaign_id": campaign_id, "run_id": run_id})
            if self.on_fired is not None:
                self.on_fired()
        return run_id

    async def _job(self, work: Callable[..., Awaitable[object]], *args: object) -> None:
        """What APScheduler runs: `work`, known to `stop` while it runs."""
        task = asyncio.current_task()
        assert task is not None
        self._jobs.add(task)
        try:
            await work(*args)
        finally:
            self._jobs.discard(task)

    async def _wake(self, campaign_id: int, scheduled_for: datetime) -> None:
        self.planned.pop(campaign_id, None)
        try:
            await self.fire(campaign_id, scheduled_for)
        except Exception:
            log.exception("campaign firing failed", extra={"campaign_id": campaign_id})
        await self.sync()  # plans the next occurrence, or retires the campaign's job

    def _plan(self, campaign_id: int, when: datetime) -> None:
        if self.planned.get(campaign_id) == when:
            return
        self.planned[campaign_id] = when
        if self._scheduler is None:
            return  # sync() without start(): a one-off sweep (tests, the CLI)
        self._scheduler.add_job(
            self._job, DateTrigger(run_date=when), args=[self._wake, campaign_id, when], id=_job_id(campaign_id),
            replace_existing=True, misfire_grace_time=None,
        )

    def _unplan(self, campaign_id: int) -> None:
        self.planned.pop(campaign_id, None)
        if self._scheduler is not None and self._scheduler.get_job(_job_id(campaign_id)) is not None:
            self._scheduler.remove_job(_job_id(campaign_id))


def _job_id(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"
