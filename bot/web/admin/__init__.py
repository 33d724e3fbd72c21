"""The staff dashboard at /admin/ and the staff statistics API at /api/stats.

Server-rendered pages (Jinja2, autoescaped), no script at all: forms post back, charts are inline SVG.
Sign-in is with TROLY_ADMIN_TOKEN; afterwards a random session id in a cookie. Sessions live in the database
(`admin_sessions`, only a hash of the id), so any process behind a load balancer accepts them: no sticky sessions.
"""

from __future__ import annotations

from aiohttp import web

from bot.web.admin.state import ADMIN, CampaignHook, Dashboard

__all__ = ["ADMIN", "CampaignHook", "Dashboard", "mount"]


def mount(app: web.Application) -> None:
    """Mount the dashboard with its defaults (no scheduler hook: new campaigns wait for the next resync)."""
    Dashboard().mount(app)
