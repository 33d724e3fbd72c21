"""Zalo OA access tokens: kept in the database, refreshed through OAuth v4 one refresh at a time.

Zalo's refresh tokens are single-use: each refresh returns a new pair and kills the old refresh token. Two
concurrent refreshes, or a crash between receiving a pair and storing it, lose the pair for good (an operator
must then authorise the OA again). So:
- one refresh at a time: an asyncio.Lock in the process and, across processes, a claim written on the token row
  (`refresh_claimed_at`) in a short transaction. No lock or connection is held over the OAuth call: on SQLite the
  process has one connection (bot/store/sqlite_inline.py), and every resident would wait for Zalo's answer. A claim
  older than CLAIM_STALE belongs to a process that died mid-refresh and may be taken over;
- whoever finds the row claimed waits, and looks again: if the stored access token is no longer the one that was
  rejected, someone else refreshed, and their pair is used;
- the new pair is committed (and the claim cleared) before it is used or returned; a database that refuses the
  write is asked again for half a minute, and should it still refuse, the pair is kept in memory and stored at the
  next chance rather than thrown away;
- tokens are refreshed ahead of expiry, not only when Zalo rejects them, and `TokenKeeper` does so even when
  nothing is sent: a refresh token unused for about three months dies, and each refresh brings a new one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.periodic import Periodic
from bot.settings import Settings
from bot.store.models import PlatformToken

log = logging.getLogger(__name__)

TOKEN_NAME = "zalo"
REFRESH_PATH = "/v4/oa/access_token"
# Refresh this long before the access token expires (they last about 25 hours).
REFRESH_AHEAD = timedelta(minutes=10)
# The env pair carries no expiry: assume it is fairly fresh but not new, so a refresh comes soon anyway and
# gives us a pair whose expiry we know. A -216 before then triggers a refresh just the same.
SEED_LIFETIME = timedelta(hours=1)
OAUTH_TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=5)
# A claim this old outlived any OAuth call (they give up after 15 s): its process died, another may refresh.
CLAIM_STALE = timedelta(seconds=60)
CLAIM_POLL_SECONDS = 0.2
# Waits between attempts to store a new pair (about 30 s in all, inside CLAIM_STALE: our claim still holds).
STORE_RETRY_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
# How often the keeper looks at the pair: well inside REFRESH_AHEAD, so a refresh is never late.
KEEP_FRESH_SECONDS = 5 * 60.0


class ZaloTokenError(Exception):
    """No usable token. `retryable` says whether trying later may help (network) or an operator must act."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class _Pair:
    access_token: str
    expires_at: datetime


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ZaloTokens:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        http: aiohttp.ClientSession | None = None,
        *,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.http = http
        self._owns_http = False
        self._now = now
        self._lock = asyncio.Lock()
        # The last pair this process read or made; the database stays the truth (see `refresh`).
        self._current: _Pair | None = None
        # A new pair the database would not take: the only copy of a live refresh token, stored at the next chance.
        self._unstored: _Answer | None = None
        self.refresh_count = 0

    def use_http(self, http: aiohttp.ClientSession) -> None:
        """Share the channel's client session when none was given at construction (or ours was closed)."""
        if self.http is None or (self.http.closed and not self._owns_http):
            self.http = http

    async def close(self) -> None:
        if self._owns_http and self.http is not None:
            await self.http.close()
            self.http = None
            self._owns_http = False

    def _fresh(self, expires_at: datetime) -> bool:
        return expires_at - self._now() > REFRESH_AHEAD

    async def access_token(self) -> str:
        """A token to call the OA API with, refreshed first when it is close to expiry."""
        if self._unstored is not None:
            try:
                await self._store_kept()
            except Exception:  # the pair in memory still serves meanwhile
                log.warning("zalo token pair kept in memory still not stored", exc_info=True)
        current = self._current
        if current is not None and self._fresh(current.expires_at):
            return current.access_token
        row = await self._read()
        pair = _Pair(row.access_token, row.expires_at)
        if self._fresh(pair.expires_at):
            self._current = pair
            return pair.access_token
        return await self.refresh(pair.access_token)

    async def refresh(self, rejected: str) -> str:
        """A new access token to replace `rejected` (refused by Zalo, or about to expire)."""
        async with self._lock:
            claim = await self._claim(rejected)
            if isinstance(claim, _Pair):
                # Another task or process refreshed while we waited: theirs is the live pair.
                self._current = claim
                return claim.access_token
            try:
                answer = await self._exchange(claim)
            except BaseException:
                await self._release()
                raise
            # The refresh token just spent is dead: the new pair is durable before anyone uses it.
            try:
                await self._store(answer)
            except Exception:
                log.critical("new zalo token pair NOT stored; kept in memory and stored at the next chance: do not "
                             "stop this process before the database answers", exc_info=True)
                self._unstored = answer
            self._current = _Pair(answer.access_token, answer.expires_at)
            self.refresh_count += 1
        log.info("zalo token refreshed", extra={"expires_at": answer.expires_at.isoformat()})
        return answer.access_token

    async def _claim(self, rejected: str) -> _Pair | str:
        """The pair someone else made since `rejected` (to use), or the refresh token to spend: the row is then
        claimed for this process, in a transaction of its own that ends at once."""
        await self._read()  # seeds the row from the environment the first time
        while True:
            now = self._now()
            async with self.sessions() as session, session.begin():
                claimed = await session.execute(
                    update(PlatformToken)
                    .where(PlatformToken.name == TOKEN_NAME,
                           or_(PlatformToken.refresh_claimed_at.is_(None),
                               PlatformToken.refresh_claimed_at < now - CLAIM_STALE))
                    # updated_at says when the pair changed, not the claim: keep it as it is.
                    .values(refresh_claimed_at=now, updated_at=PlatformToken.updated_at)
                )
                row = await session.scalar(select(PlatformToken).where(PlatformToken.name == TOKEN_NAME))
                if row is None:
                    raise ZaloTokenError("the Zalo token row disappeared", retryable=True)
                ours = bool(getattr(claimed, "rowcount", 0))
                if row.access_token != rejected and self._fresh(row.expires_at):
                    if ours:
                        row.refresh_claimed_at = None
                    return _Pair(row.access_token, row.expires_at)
                if ours:
                    return row.refresh_token
            await asyncio.sleep(CLAIM_POLL_SECONDS)  # another process is refreshing: its pair is stored shortly

    async def _store(self, answer: _Answer) -> None:
        """Store the new pair and clear our claim, in one transaction; asked again while the database refuses."""
        for wait in (*STORE_RETRY_WAITS, None):
            try:
                await self._write_pair(answer)
                return
            except Exception:
                if wait is None:
                    raise
                log.warning("zalo token pair not stored yet; trying again", exc_info=True)
                await asyncio.sleep(wait)

    async def _store_kept(self) -> None:
        answer = self._unstored
        if answer is None:
            return
        async with self._lock:
            await self._write_pair(answer)
            self._unstored = None
        log.warning("zalo token pair kept in memory is now stored")

    async def _write_pair(self, answer: _Answer) -> None:
        await self._update(access_token=answer.access_token, refresh_token=answer.refresh_token,
                           expires_at=answer.expires_at, updated_at=self._now(), refresh_claimed_at=None)

    async def _release(self) -> None:
        """The refresh failed: clear our claim so the next attempt need not wait for it to go stale."""
        try:
            await self._update(refresh_claimed_at=None, updated_at=PlatformToken.updated_at)
        except Exception:
            log.exception("zalo token claim not released; it goes stale in a minute")

    async def _update(self, **values: Any) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(update(PlatformToken).where(PlatformToken.name == TOKEN_NAME).values(**values))

    async def _exchange(self, refresh_token: str) -> _Answer:
        try:
            return await self._call_oauth(refresh_token)
        except _Rejected as exc:
            # An operator who authorised the OA again puts the new pair in the environment; the stored pair is
            # dead, so try theirs once (a spent one is merely refused again).
            seed = self.settings.zalo_refresh_token
            if seed is not None and seed.get_secret_value() != refresh_token:
                log.warning("stored zalo refresh token refused; trying the one from the environment")
                try:
                    return await self._call_oauth(seed.get_secret_value())
                except _Rejected:
                    pass
            log.error("zalo refresh token refused: authorise the OA again and set ZALO_ACCESS_TOKEN/"
                      "ZALO_REFRESH_TOKEN", extra={"error_name": exc.error_name})
            raise ZaloTokenError(f"refresh token refused: {exc.error_name}", retryable=False) from None

    async def _read(self) -> PlatformToken:
        """The stored pair, seeded from the environment the first time (each read in a session of its own: one
        session must not wait for another, which on SQLite holds the process's only connection)."""
        for _ in range(2):
            async with self.sessions() as session:
                row = await session.scalar(select(PlatformToken).where(PlatformToken.name == TOKEN_NAME))
            if row is not None:
                return row
            await self._seed()
        raise ZaloTokenError("no Zalo token row after seeding", retryable=True)

    async def _seed(self) -> None:
        """Store the env pair as the first row; only ever when no row exists (rotated pairs win)."""
        access, refresh = self.settings.zalo_access_token, self.settings.zalo_refresh_token
        if access is None or refresh is None:
            raise ZaloTokenError("no Zalo token: set ZALO_ACCESS_TOKEN and ZALO_REFRESH_TOKEN", retryable=False)
        now = self._now()
        try:
            async with self.sessions() as session, session.begin():
                session.add(PlatformToken(
                    name=TOKEN_NAME, access_token=access.get_secret_value(), refresh_token=refresh.get_secret_value(),
                    expires_at=now + SEED_LIFETIME, updated_at=now,
                ))
        except IntegrityError:
            pass  # another process seeded first: its row is the same pair or a newer one
        else:
            log.info("zalo token pair seeded from the environment")

    def _client(self) -> aiohttp.ClientSession:
        if self.http is None or self.http.closed:
            self.http = aiohttp.ClientSession()
            self._owns_http = True
        return self.http

    async def _call_oauth(self, refresh_token: str) -> _Answer:
        settings = self.settings
        if settings.zalo_app_id is None or settings.zalo_app_secret is None:
            raise ZaloTokenError("ZALO_APP_ID and ZALO_APP_SECRET are needed to refresh tokens", retryable=False)
        url = settings.zalo_oauth_url.rstrip("/") + REFRESH_PATH
        form = {"app_id": settings.zalo_app_id, "grant_type": "refresh_token", "refresh_token": refresh_token}
        headers = {"secret_key": settings.zalo_app_secret.get_secret_value()}
        try:
            async with self._client().post(url, data=form, headers=headers, timeout=OAUTH_TIMEOUT) as response:
                status = response.status
                data: Any = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # The refresh token may have been spent if the request got through: nothing we can do about that
            # but say so; the next attempt will tell.
            log.warning("zalo token refresh failed in transit", extra={"error": type(exc).__name__})
            raise ZaloTokenError(f"OAuth unreachable: {type(exc).__name__}", retryable=True) from None
        return self._parse(status, data)

    def _parse(self, status: int, data: Any) -> _Answer:
        if not isinstance(data, dict):
            raise ZaloTokenError(f"OAuth answered HTTP {status} without a JSON object", retryable=status >= 500)
        access, refresh, expires_in = data.get("access_token"), data.get("refresh_token"), data.get("expires_in")
        if isinstance(access, str) and access and isinstance(refresh, str) and refresh:
            try:
                seconds = int(float(expires_in)) if expires_in is not None else 0
            except (TypeError, ValueError):
                seconds = 0
            if seconds <= 0:
                seconds = int(SEED_LIFETIME.total_seconds())
            return _Answer(access, refresh, self._now() + timedelta(seconds=seconds))
        # Errors come as {"error_name", "error_description"} (or {"error", "message"}), often with HTTP 200.
        name = str(data.get("error_name") or data.get("error") or f"HTTP {status}")
        if status >= 500:
            raise ZaloTokenError(f"OAuth server error: {name}", retryable=True)
        raise _Rejected(name)


class TokenKeeper(Periodic):
    """Refreshes the pair ahead of expiry even when the OA sends nothing for months."""

    name = "zalo-token-keeper"

    def __init__(self, tokens: ZaloTokens, interval: float = KEEP_FRESH_SECONDS) -> None:
        super().__init__(interval)
        self.tokens = tokens

    async def tick(self) -> None:
        try:
            await self.tokens.access_token()
        except ZaloTokenError as exc:  # said once per tick, without a traceback: the operator must act, or wait
            log.error("zalo token not kept fresh", extra={"reason": str(exc), "retryable": exc.retryable})


@dataclass(frozen=True, slots=True)
class _Answer:
    access_token: str
    refresh_token: str
    expires_at: datetime


class _Rejected(Exception):
    """OAuth refused the refresh token (spent, expired or revoked)."""

    def __init__(self, error_name: str) -> None:
        super().__init__(error_name)
        self.error_name = error_name
