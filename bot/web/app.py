"""The aiohttp application: health, metrics, and whatever routes the channels and the dashboard mount."""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from bot.runtime import Runtime
from bot.store.engine import ping

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # DESIGN.md: request bodies above 1 MiB are refused with 413

RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)

Mount = Callable[[web.Application], None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(runtime: Runtime, mounts: Iterable[Mount] = ()) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors_and_metrics])
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", home)
    for mount in mounts:
        mount(app)
    return app


@web.middleware
async def _errors_and_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except Exception:
        # Nobody outside ever sees a traceback; the log keeps it.
        log.exception("unhandled error", extra={"route": route})
        return web.json_response({"error": "internal error"}, status=500)
    finally:
        request.app[RUNTIME].metrics.http_requests.labels(route, str(status)).inc()


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        await asyncio.wait_for(ping(runtime.engine), timeout=3)
    except Exception as exc:  # any failure means "not healthy", which is the answer we owe
        log.warning("health check failed", extra={"error": type(exc).__name__})
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    return web.json_response({"status": "ok", "database": "up"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[RUNTIME].metrics.render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


async def home(request: web.Request) -> web.Response:
    """A plain landing page: links to the chat, and Zalo's domain-verification tag when configured."""
    settings = request.app[RUNTIME].settings
    meta = (
        f'<meta name="zalo-platform-site-verification" content="{settings.zalo_site_verification}">'
        if settings.zalo_site_verification
        else ""
    )
    page = (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">{meta}'
        f"<title>Trợ lý số</title></head><body style=\"font:20px/1.5 system-ui;margin:2rem\">"
        f"<h1>Trợ lý số — {html.escape(settings.commune_name)}</h1>"
        '<p><a href="/chat">Hỏi đáp với trợ lý</a></p></body></html>'
    )
    return web.Response(text=page, content_type="text/html")
