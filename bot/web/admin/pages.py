"""Sign-in, the overview, the questions the assistant could not answer, proposals and reports."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from datetime import date, timedelta
from importlib import resources

from aiohttp import web

from bot.store import proposals, reports, stats
from bot.web.admin import charts
from bot.web.admin.groups import group_similar
from bot.web.admin.state import ADMIN, COOKIE, LOGIN_COOKIE, StaffSession, quote_path, safe_next, staff_only
from bot.web.app import RUNTIME
from bot.web.bearer import bearer_problem

MAX_NAME = 60
FAILED_SIGN_IN_DELAY = 0.3  # seconds: slows a guessing script, unnoticeable for a person


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin", to_dashboard)
    app.router.add_get("/admin/", staff_only(overview))
    app.router.add_get("/admin/login", login_page)
    app.router.add_post("/admin/login", login)
    app.router.add_post("/admin/logout", staff_only(logout))
    app.router.add_get("/admin/static/admin.css", stylesheet)
    app.router.add_get("/admin/questions", staff_only(questions))
    app.router.add_get("/admin/proposals", staff_only(proposal_list))
    app.router.add_post("/admin/proposals/{id:\\d+}/reject", staff_only(reject_proposal))
    app.router.add_get("/admin/reports", staff_only(report_page))
    app.router.add_get("/admin/reports/{kind:daily|weekly|monthly}.{fmt:csv|xlsx}", report_file)


async def to_dashboard(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/admin/")


def today(request: web.Request) -> date:
    runtime = request.app[RUNTIME]
    return runtime.now().astimezone(runtime.settings.timezone).date()


# ---- sign-in ----------------------------------------------------------------------------------------------------


def _login_form(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    dashboard = request.app[ADMIN]
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not 30 <= len(nonce) <= 64:
        nonce = secrets.token_urlsafe(32)
    response = dashboard.render(
        "login.html", None, status=status, csrf=nonce, error=error, configured=dashboard.configured,
        next=safe_next(request.query.get("next")),
    )
    # Sign-in has no session yet: its form is protected by a double-submit cookie instead.
    response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, path="/admin/login", httponly=True,
                        samesite="Strict", secure=dashboard.secure_cookies)
    return response


async def login_page(request: web.Request) -> web.StreamResponse:
    dashboard = request.app[ADMIN]
    if await dashboard.current(request) is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return _login_form(request)


async def login(request: web.Request) -> web.StreamResponse:
    dashboard = request.app[ADMIN]
    form = await request.post()
    given = form.get("csrf")
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not (isinstance(given, str) and nonce and hmac.compare_digest(given.encode(), nonce.encode())):
        return _login_form(request, "Trang đăng nhập đã hết hạn, vui lòng thử lại.", status=403)
    token = form.get("token")
    if not dashboard.configured:
        return _login_form(request, "Chưa đặt TROLY_ADMIN_TOKEN nên chưa đăng nhập được.", status=503)
    if not isinstance(token, str) or not dashboard.token_matches(token.strip()):
        await asyncio.sleep(FAILED_SIGN_IN_DELAY)
        return _login_form(request, "Mã quản trị không đúng.", status=401)
    raw_name = form.get("name")
    name = " ".join(raw_name.split())[:MAX_NAME] if isinstance(raw_name, str) else ""
    staff = await dashboard.sessions.create(name or "cán bộ")
    target = form.get("next")
    response = web.HTTPSeeOther(safe_next(target if isinstance(target, str) else None))
    response.set_cookie(COOKIE, staff.id, path="/admin", httponly=True, samesite="Strict",
                        secure=dashboard.secure_cookies)
    response.del_cookie(LOGIN_COOKIE, path="/admin/login")
    raise response


async def logout(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    await request.app[ADMIN].sessions.drop(staff.id)
    response = web.HTTPSeeOther("/admin/login")
    response.del_cookie(COOKIE, path="/admin")
    raise response


async def stylesheet(request: web.Request) -> web.StreamResponse:
    css = resources.files("bot.web").joinpath("templates/admin.css").read_text(encoding="utf-8")
    return web.Response(text=css, content_type="text/css", charset="utf-8",
                        headers={"Cache-Control": "max-age=3600"})


# ---- overview ---------------------------------------------------------------------------------------------------


def _period(request: web.Request, default_days: int = 30) -> tuple[stats.Period, str | None]:
    zone = request.app[RUNTIME].settings.timezone
    try:
        return stats.parse_period(request.query.get("from"), request.query.get("to"), zone, today(request),
                                  default_days), None
    except stats.PeriodError as exc:
        return stats.parse_period(None, None, zone, today(request), default_days), str(exc)


def _quick_ranges(day: date) -> list[tuple[str, str, str]]:
    return [
        ("Hôm nay", day.isoformat(), day.isoformat()),
        ("7 ngày", (day - timedelta(days=6)).isoformat(), day.isoformat()),
        ("30 ngày", (day - timedelta(days=29)).isoformat(), day.isoformat()),
        ("Tháng này", day.replace(day=1).isoformat(), day.isoformat()),
    ]


async def overview(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    period, error = _period(request)
    async with request.app[RUNTIME].sessions() as session:
        figures = await stats.overview(session, period)
    return request.app[ADMIN].render(
        "overview.html", staff, nav="overview", period=period, error=error, s=figures,
        days=charts.day_chart(figures.per_day), segments=charts.decision_segments(figures.decisions),
        areas=charts.area_bars(figures.subscribers_by_area), ranges=_quick_ranges(today(request)),
    )


# ---- what the assistant could not answer ------------------------------------------------------------------------


async def questions(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    period, error = _period(request)
    runtime = request.app[RUNTIME]
    async with runtime.sessions() as session:
        unanswered = await stats.unanswered(session, period)
        disliked = await stats.disliked(session, period)
    # A question the current FAQ now answers (an entry was added since) no longer needs attention.
    matcher = runtime.matcher
    still_open = [a for a in unanswered if matcher.match(a.text).decision != "answer"]
    entries = runtime.content.by_id
    return request.app[ADMIN].render(
        "questions.html", staff, nav="questions", period=period, error=error,
        unanswered=group_similar(still_open), disliked=group_similar(disliked), entries=entries,
        answered_since=len(unanswered) - len(still_open), ranges=_quick_ranges(today(request)),
    )


# ---- volunteers' proposals ----------------------------------------------------------------------------------------


async def proposal_list(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    async with request.app[RUNTIME].sessions() as session:
        pending = await proposals.list_proposals(session, "pending")
        decided = list(await proposals.list_proposals(session, None))
    decided = [p for p in decided if p.status != "pending"][-20:][::-1]
    message = {"rejected": "Đã từ chối đề xuất.", "accepted": "Đã thêm mục hỏi đáp từ đề xuất."}.get(
        request.query.get("done", ""))
    return request.app[ADMIN].render("proposals.html", staff, nav="proposals", pending=pending, decided=decided,
                                     message=message)


async def reject_proposal(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    async with request.app[RUNTIME].sessions() as session, session.begin():
        decided = await proposals.decide(session, int(request.match_info["id"]), False, staff.actor)
    if decided is None:
        return request.app[ADMIN].render("error.html", staff, status=409,
                                         message="Đề xuất này không còn chờ duyệt.")
    raise web.HTTPSeeOther("/admin/proposals?done=rejected")


# ---- reports ----------------------------------------------------------------------------------------------------


async def report_page(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    chosen = request.query.get("date") or today(request).isoformat()
    try:
        day = date.fromisoformat(chosen)
    except ValueError:
        day = today(request)
    return request.app[ADMIN].render("reports.html", staff, nav="reports", day=day.isoformat(),
                                     kinds=[("daily", "Báo cáo ngày"), ("weekly", "Báo cáo tuần"),
                                            ("monthly", "Báo cáo tháng")])


async def report_file(request: web.Request) -> web.StreamResponse:
    """A report download: for signed-in staff, or a script with the bearer token."""
    dashboard = request.app[ADMIN]
    runtime = request.app[RUNTIME]
    if await dashboard.current(request) is None:
        problem = bearer_problem(request, runtime.settings.admin_token)
        if problem is not None and "Authorization" in request.headers:
            return problem
        if problem is not None:
            raise web.HTTPSeeOther(f"/admin/login?next={quote_path(request.path_qs)}")
    try:
        day = date.fromisoformat(request.query["date"]) if request.query.get("date") else today(request)
    except ValueError:
        return web.Response(status=400, text="Ngày không hợp lệ: cần dạng YYYY-MM-DD.", charset="utf-8")
    kind, fmt = request.match_info["kind"], request.match_info["fmt"]
    async with runtime.sessions() as session:
        report = await reports.build_report(session, kind, day, runtime.settings.timezone, runtime.content,
                                            runtime.settings.commune_name, runtime.now())
    if fmt == "csv":
        body, content_type = reports.to_csv(report), "text/csv; charset=utf-8"
    else:
        body = reports.to_xlsx(report)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return web.Response(body=body, headers={
        "Content-Type": content_type,
        "Content-Disposition": f'attachment; filename="{report.filename}.{fmt}"',
    })
