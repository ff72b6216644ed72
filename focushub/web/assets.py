"""Static files with versioned URLs, so browsers may keep them for a year.

Templates name a static file with ``static_url("app.css")``, which appends the first
twelve hex digits of the file's SHA-256 (``/static/app.css?v=…``). A request whose ``v``
is the file's current digest may be cached for a year (``immutable``): a changed file gets
another URL. Any other request for the same file (no ``v``, or the digest of an older
version from a page cached before a deployment) is served with a short lifetime, so an old
URL never pins the new content for long.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"
LONG = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"


@cache
def digest(path: str) -> str:
    """The version of ``static/<path>``, read once per process (files change only with a
    new release, which restarts the server)."""
    return hashlib.sha256((STATIC / path).read_bytes()).hexdigest()[:12]


def static_url(path: str) -> str:
    return f"/static/{path}?v={digest(path)}"


class VersionedStaticFiles(StaticFiles):
    """``StaticFiles`` with the ``Cache-Control`` described above."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 206, 304):
            query = dict(part.split("=", 1) for part in
                         scope.get("query_string", b"").decode("latin-1").split("&")
                         if "=" in part)
            try:
                current = digest(path)
            except OSError:
                current = None
            response.headers["Cache-Control"] = (
                LONG if current is not None and query.get("v") == current else SHORT)
        return response
