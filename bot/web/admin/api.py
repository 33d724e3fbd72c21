"""`GET /api/stats?from=YYYY-MM-DD&to=YYYY-MM-DD`: the overview's figures as JSON, for the bearer token.

Errors follow the campaign API (bot/web/bearer.py).
"""

from __future__ import annotations

from aiohttp import web

from bot.store import stats
from bot.web.app import RUNTIME
from bot.web.bearer import bearer_problem, json_error


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/stats", stats_json)


async def stats_json(request: web.Request) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    problem = bearer_problem(request, runtime.settings.admin_token)
    if problem is not None:
        return problem
    zone = runtime.settings.timezone
    try:
        period = stats.parse_period(request.query.get("from"), request.query.get("to"), zone,
                                    runtime.now().astimezone(zone).date())
    except stats.PeriodError as exc:
        return json_error(400, str(exc))
    async with runtime.sessions() as session:
        figures = await stats.overview(session, period)
    return web.json_response(figures.to_json())
