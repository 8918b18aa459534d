"""What keeps other web pages off the local server: the ``Host`` header (DNS rebinding) and the ``Origin`` of
state-changing requests (cross-site forms and ``fetch`` without a preflight), checked before any route runs."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.responses import JSONResponse

LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~-]{1,256}")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def host_name(value: str) -> str:
    """``[::1]:8000`` -> ``::1``; ``Example.org:80`` -> ``example.org``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def allowed_hosts(bound: str) -> tuple[str, ...]:
    """Names the ``Host`` header may carry: localhost names and the bound address; an empty tuple (any name)
    when bound to every interface, where the required token does the guarding."""
    if bound in ("0.0.0.0", "::", ""):
        return ()
    return tuple(dict.fromkeys((*LOCAL_NAMES, host_name(bound))))


class RequestGuard:
    """ASGI middleware: 421 for a foreign ``Host``; 403 for a state-changing request from another origin."""

    def __init__(self, app, hosts: tuple[str, ...] = LOCAL_NAMES) -> None:
        self.app, self.hosts = app, tuple(h.lower() for h in hosts)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.hosts and host_name(host) not in self.hosts:
            return await _refuse(421, "unknown Host; open the page by the address the server printed", scope, receive, send)
        if scope.get("method", "GET") not in SAFE_METHODS and not _same_origin(headers, host):
            return await _refuse(403, "cross-origin request refused", scope, receive, send)
        return await self.app(scope, receive, send)


def _same_origin(headers: dict[str, str], host: str) -> bool:
    """A browser sends ``Origin`` on cross-site POSTs; without one (curl, scripts) the request is not a page's."""
    if headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == host.strip().lower()


async def _refuse(status: int, message: str, scope, receive, send) -> None:
    await JSONResponse({"error": message}, status_code=status)(scope, receive, send)
