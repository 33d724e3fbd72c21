"""`GET /api/stats?from=YYYY-MM-DD&to=YYYY-MM-DD`: the overview's figures as JSON, for the bearer token.

Errors follow the campaign API: JSON `{"error": "<Vietnamese sentence>"}`; 503 when no token is configured,
401 without a bearer token, 403 with a wrong one.
"""

from __future__ import annotations

from aiohttp import web

from bot.store import stats
from bot.web.admin.state import ADMIN
from bot.web.app import RUNTIME


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/stats", stats_json)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def bearer_problem(request: web.Request) -> web.Response | None:
    """None when the request carries the right bearer token; otherwise the answer to give."""
    dashboard = request.app[ADMIN]
    if not dashboard.configured:
        return _error(503, "API chưa được bật: quản trị viên cần đặt biến môi trường TROLY_ADMIN_TOKEN.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        response = _error(401, "Cần đăng nhập: gửi kèm tiêu đề Authorization: Bearer <mã quản trị>.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="troly"'
        return response
    if not dashboard.token_matches(given.strip()):
        return _error(403, "Mã quản trị không đúng.")
    return None


async def stats_json(request: web.Request) -> web.StreamResponse:
    problem = bearer_problem(request)
    if problem is not None:
        return problem
    runtime = request.app[RUNTIME]
    zone = runtime.settings.timezone
    try:
        period = stats.parse_period(request.query.get("from"), request.query.get("to"), zone,
                                    runtime.now().astimezone(zone).date())
    except stats.PeriodError as exc:
        return _error(400, str(exc))
    async with runtime.sessions() as session:
        figures = await stats.overview(session, period)
    return web.json_response(figures.to_json())
