"""How python-telegram-bot reaches the Bot API: `AiohttpRequest`, its HTTP layer on aiohttp instead of httpx, and
how long a 429 asks us to wait."""

from __future__ import annotations

import json
import re
import warnings
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.request import BaseRequest, RequestData
from telegram.warnings import PTBDeprecationWarning

# How long an idle connection to the Bot API is kept.
KEEPALIVE = 5.0


class AiohttpRequest(BaseRequest):
    """PTB's HTTP layer on aiohttp instead of httpx.

    Measured on one process, replies through httpx's pool cost about three times what they cost on aiohttp (its pool
    scans every connection per request, and httpcore retries a failing `import sniffio` on each one), and aiohttp
    is already our server and Zalo client. Errors keep PTB's contract: timeouts become `TimedOut`, other transport
    failures `NetworkError`, each raised from the aiohttp error so `_failure` can tell "never sent" from "maybe".
    """

    def __init__(self, *, limit: int, connect_timeout: float, read_timeout: float | None) -> None:
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # Idle connections are dropped after 5 s (httpx's habit, which PTB relied on): a connection the server
            # closed while idle would fail the next reply with "maybe delivered", and that reply would be lost.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=KEEPALIVE),
                headers={"User-Agent": self.USER_AGENT},
            )

    def _proxy(self, url: str) -> str | None:
        """HTTP(S)_PROXY / NO_PROXY from the environment, as PTB's httpx client honours them. Looked up once per
        host: aiohttp's own `trust_env` reads the environment again on every request, which cost a third of the
        throughput."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxies:
            proxy = getproxies().get(parts.scheme)
            if proxy and key[1] and proxy_bypass(key[1]):
                proxy = None
            self._proxies[key] = proxy
        return self._proxies[key]

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RequestNotSent("the HTTP client is closed")
        default = type(BaseRequest.DEFAULT_NONE)
        read = self._read_timeout if isinstance(read_timeout, default) else read_timeout
        connect = self._connect_timeout if isinstance(connect_timeout, default) else connect_timeout
        pool = 0.0 if isinstance(pool_timeout, default) or pool_timeout is None else float(pool_timeout)
        # aiohttp's `connect` covers waiting for a pooled connection and opening one; there is no write timeout,
        # and a stalled write ends in the read timeout.
        timeout = aiohttp.ClientTimeout(
            total=None, connect=None if connect is None else connect + pool, sock_connect=connect, sock_read=read
        )
        # Raised `from None` with redacted messages: aiohttp's errors can carry the URL, and the URL the token.
        for attempt in (1, 2):
            try:
                async with session.request(
                    method, url, data=_body(request_data), timeout=timeout, proxy=self._proxy(url)
                ) as response:
                    return response.status, await response.read()
            except aiohttp.ConnectionTimeoutError as exc:
                raise RequestNotSent(f"timed out connecting: {_describe(exc)}") from None
            except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
                raise TimedOut(f"Timed out: {_describe(exc)}") from None
            except aiohttp.ClientConnectorError as exc:
                raise RequestNotSent(_describe(exc)) from None
            except aiohttp.ClientOSError as exc:
                if not (exc.strerror or "").startswith(_UNSENT_BODY):
                    raise NetworkError(_describe(exc)) from None
                if attempt == 2:
                    raise RequestNotSent(_describe(exc)) from None
                # A pooled connection the server had closed: the request never left; once more on a fresh one.
            except aiohttp.ClientError as exc:
                raise NetworkError(_describe(exc)) from None
        raise AssertionError("unreachable")


class RequestNotSent(NetworkError):
    """The request never reached the Bot API (no connection, none free in the pool, the body not written, the
    client closed): sending it again cannot duplicate anything."""


# aiohttp's message when writing the body fails (a connection closed under us): nothing was delivered.
_UNSENT_BODY = "Can not write request body"
_TOKEN_IN_URL = re.compile(r"/bot[^/\s]+")


def _describe(exc: BaseException) -> str:
    return f"aiohttp.{type(exc).__name__}: " + _TOKEN_IN_URL.sub("/bot<token>", str(exc))


def _body(request_data: RequestData | None) -> Any:
    """PTB's parameters as a JSON body (which the Bot API takes, and which costs a fraction of percent-encoding
    Vietnamese text into a form), multipart when files go along."""
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        return aiohttp.BytesPayload(json.dumps(request_data.parameters, ensure_ascii=False).encode(),
                                    content_type="application/json")
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in files.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form


def retry_after_seconds(exc: RetryAfter) -> float:
    """`retry_after` is an int in PTB 22 (deprecated) and becomes a timedelta: accept both, without the warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | float | timedelta = exc.retry_after
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    return max(seconds, 0.0)
