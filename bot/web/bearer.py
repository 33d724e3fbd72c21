"""The staff API's credentials: `Authorization: Bearer $TROLY_ADMIN_TOKEN`, compared in constant time.

Errors are JSON `{"error": "<Vietnamese sentence>"}`, so a staff tool can show them as they are: 503 when no token
is configured, 401 without a bearer token, 403 with a wrong one.
"""

from __future__ import annotations

import functools
import hmac
import json
from typing import Any

from aiohttp import web
from pydantic import SecretStr

_dumps = functools.partial(json.dumps, ensure_ascii=False)  # Vietnamese stays readable in the JSON


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def json_error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status=status)


def configured(token: SecretStr | None) -> bool:
    return token is not None and bool(token.get_secret_value())


def token_matches(given: str, token: SecretStr | None) -> bool:
    """An unset token never matches anything, not even an empty string."""
    expected = token.get_secret_value() if token is not None else ""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def bearer_problem(request: web.Request, token: SecretStr | None) -> web.Response | None:
    """None when the request carries the right bearer token; otherwise the answer to give."""
    if not configured(token):
        return json_error(503, "API chưa được bật: quản trị viên cần đặt biến môi trường TROLY_ADMIN_TOKEN.")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        response = json_error(401, "Cần đăng nhập: gửi kèm tiêu đề Authorization: Bearer <mã quản trị>.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="troly"'
        return response
    if not token_matches(given.strip(), token):
        return json_error(403, "Mã quản trị không đúng.")
    return None
