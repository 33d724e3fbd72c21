"""What the dashboard holds: staff sessions (in the database), the templates, the packaged FAQ."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.runtime import Runtime
from bot.store import admin_sessions
from bot.web import bearer
from bot.web.app import RUNTIME
from faq.content import Content, load_content

CampaignHook = Callable[[int], Awaitable[None]]
StaffHandler = Callable[[web.Request, "StaffSession"], Awaitable[web.StreamResponse]]

COOKIE = "troly_admin"
LOGIN_COOKIE = "troly_admin_login"

# No script on any page: forms and links only. Styles come from our own stylesheet; SVG charts use
# presentation attributes, which the policy allows.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class StaffSession:
    id: str
    csrf: str
    name: str
    created: datetime
    seen: datetime

    @property
    def actor(self) -> str:
        """How this staff member appears in the audit log."""
        return f"dashboard:{self.name}"[:160]


class Sessions:
    """Signed-in staff, in the `admin_sessions` table (see bot.store.admin_sessions): a session started on one
    `troly serve` process is accepted by every other on the same database, so a load balancer needs no sticky
    sessions, and signing out or expiry ends it everywhere.

    The CSRF token is a second random value stored with the session rather than derived from its id: it needs no
    server-wide secret to configure and rotate, and the stored hash of the id gives nothing to derive it from.
    Each call is one short transaction of its own, never held while a page is built (SQLite has one connection
    per process).
    """

    def __init__(self, db: async_sessionmaker[AsyncSession], clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock

    async def create(self, name: str) -> StaffSession:
        now = self.clock()
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        async with self.db() as session, session.begin():
            # Sign-in is when the table is tidied: expired rows go, then the oldest beyond the cap.
            await admin_sessions.delete_expired(session, now)
            await admin_sessions.keep_newest(session, admin_sessions.MAX_SESSIONS - 1)
            await admin_sessions.create(session, session_id, csrf, name, now)
        return StaffSession(session_id, csrf, name, now, now)

    async def get(self, session_id: str | None) -> StaffSession | None:
        if not session_id:
            return None
        now = self.clock()
        async with self.db() as session, session.begin():
            row = await admin_sessions.find(session, session_id)
            if row is None:
                return None
            if admin_sessions.is_expired(row, now):
                await session.delete(row)
                return None
            await admin_sessions.touch(session, row, now)
            return StaffSession(session_id, row.csrf, row.display_name, row.created_at, row.seen_at)

    async def drop(self, session_id: str | None) -> None:
        if session_id:
            async with self.db() as session, session.begin():
                await admin_sessions.remove(session, session_id)


def _number(value: Any, digits: int = 0) -> str:
    """1234.5 → "1.234,5" (Vietnamese separators)."""
    if value is None:
        return "–"
    quantum = Decimal(1).scaleb(-digits)
    rounded = Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    text = f"{rounded:,.{digits}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def _percent(value: float | None) -> str:
    return "–" if value is None else _number(value * 100, 0) + "%"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes = round(seconds / 60)
    if minutes < 1:
        return "dưới 1 phút"
    if minutes < 60:
        return f"{minutes} phút"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} giờ" + (f" {rest} phút" if rest else "")
    return f"{hours // 24} ngày {hours % 24} giờ"


class Dashboard:
    """Mounts the dashboard routes. `on_campaign_change` is the scheduler's hook, called with a campaign id after
    a campaign is created or cancelled here (as the campaign API does)."""

    def __init__(self, packaged: Content | None = None, on_campaign_change: CampaignHook | None = None) -> None:
        self._packaged = packaged
        self.on_campaign_change = on_campaign_change
        self._sessions: Sessions | None = None
        self.templates = Environment(
            loader=PackageLoader("bot.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters.update(number=_number, percent=_percent, duration=_duration)
        self.runtime: Runtime | None = None

    @property
    def sessions(self) -> Sessions:
        """Signed-in staff (available once mounted: they live in the runtime's database)."""
        assert self._sessions is not None
        return self._sessions

    @property
    def packaged(self) -> Content:
        """The FAQ as shipped, before staff edits (read once, on first use)."""
        if self._packaged is None:
            self._packaged = load_content()
        return self._packaged

    def mount(self, app: web.Application) -> None:
        from bot.web.admin import api, campaign_pages, faq_pages, pages, tickets_pages

        self.runtime = runtime = app[RUNTIME]
        app[ADMIN] = self
        # Through `runtime.now` (not captured once) so that tests can move the clock.
        self._sessions = Sessions(runtime.sessions, lambda: runtime.now())
        zone = self.runtime.settings.timezone
        self.templates.filters["localtime"] = lambda at, fmt="%d/%m/%Y %H:%M": (
            at.astimezone(zone).strftime(fmt) if isinstance(at, datetime) else "–"
        )
        app.on_response_prepare.append(_security_headers)
        pages.add_routes(app)
        faq_pages.add_routes(app)
        tickets_pages.add_routes(app)
        campaign_pages.add_routes(app)
        api.add_routes(app)

    # ---- rendering ----------------------------------------------------------------------------------------

    def render(self, template: str, staff: StaffSession | None, status: int = 200, **context: Any) -> web.Response:
        assert self.runtime is not None
        page = self.templates.get_template(template).render(
            staff=staff, commune=self.runtime.settings.commune_name, **context
        )
        return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")

    # ---- authentication -----------------------------------------------------------------------------------

    def token_matches(self, given: str) -> bool:
        assert self.runtime is not None
        return bearer.token_matches(given, self.runtime.settings.admin_token)

    @property
    def configured(self) -> bool:
        assert self.runtime is not None
        return bearer.configured(self.runtime.settings.admin_token)

    @property
    def secure_cookies(self) -> bool:
        assert self.runtime is not None
        return (self.runtime.settings.public_url or "").startswith("https://")

    async def current(self, request: web.Request) -> StaffSession | None:
        return await self.sessions.get(request.cookies.get(COOKIE))


ADMIN: web.AppKey[Dashboard] = web.AppKey("admin", Dashboard)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == "/admin" or request.path.startswith("/admin/"):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)


def staff_only(handler: StaffHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Signed-in staff only; a POST must also carry the session's CSRF token in its form."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        dashboard = request.app[ADMIN]
        staff = await dashboard.current(request)
        if staff is None:
            target = request.path_qs if request.method == "GET" else "/admin/"
            raise web.HTTPSeeOther(f"/admin/login?next={quote_path(target)}")
        if request.method == "POST":
            form = await request.post()
            given = form.get("csrf")
            if not isinstance(given, str) or not hmac.compare_digest(given.encode(), staff.csrf.encode()):
                return dashboard.render("error.html", staff, status=403,
                                        message="Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang "
                                                "và thử lại.")
        return await handler(request, staff)

    return guarded


def quote_path(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def safe_next(target: str | None) -> str:
    """Only a path inside the dashboard: never an open redirect to another site."""
    if target and target.startswith("/admin/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/admin/"
