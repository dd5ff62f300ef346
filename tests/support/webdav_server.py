"""Real WebDAV servers on loopback for the connector tests and benchmark.

`DavServer` is wsgidav (a maintained WebDAV server) on cheroot, serving a folder with basic
auth. A hook can change a file while it is being downloaded, as a colleague saving it at
that moment would. `StubDrive` speaks just enough WebDAV (PROPFIND, GET) over aiohttp to
answer what a real drive cannot be made to answer here: a 2 GB file, or HTTP 500.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web
from cheroot import wsgi
from wsgidav.wsgidav_app import WsgiDAVApp

from tests.conftest import free_port

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


class DavServer:
    """wsgidav serving `root` at `http://127.0.0.1:PORT/dav/`, user `alice`.

    With `bearer`, it is the Suite's drive instead: a resource server that lets through
    only requests whose `Authorization: Bearer` token `bearer` accepts (it asks the
    provider), and records the tokens it saw."""

    def __init__(
        self,
        root: Path,
        password: str = "app-password",
        bearer: Callable[[str], bool] | None = None,
    ) -> None:
        self.root = root
        self.bearer = bearer
        self.tokens_seen: list[str] = []
        self.port = free_port()
        self.users: dict[str, dict[str, str]] = {"alice": {"password": password}}
        # Called with the file's path once its body has been read from disk, before any of
        # it is sent: the client cannot have the whole file (and look at its ETag again)
        # before the file has changed.
        self.after_get: dict[str, Callable[[Path], None]] = {}
        config = {
            "host": "127.0.0.1",
            "port": self.port,
            "provider_mapping": {"/dav": str(root)},
            "http_authenticator": {
                "domain_controller": None,
                "accept_basic": True,
                "accept_digest": False,
                "default_to_digest": False,
            },
            # Behind the bearer check, wsgidav itself lets everyone through.
            "simple_dc": {"user_mapping": {"*": True if bearer else self.users}},
            "verbose": 0,
            "logging": {"enable": False},
            "dir_browser": {"enable": False},
        }
        self._app = WsgiDAVApp(config)
        self._server = wsgi.Server(("127.0.0.1", self.port), self._hooked, numthreads=8)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dav/"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set_password(self, password: str) -> None:
        """Change alice's password (an app password revoked at the source)."""
        self.users["alice"]["password"] = password

    def _hooked(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self.bearer is not None:
            header = str(environ.get("HTTP_AUTHORIZATION", ""))
            token = header[7:] if header.startswith("Bearer ") else ""
            self.tokens_seen.append(token)
            if not token or not self.bearer(token):
                start_response(
                    "401 Unauthorized",
                    [("WWW-Authenticate", 'Bearer error="invalid_token"'), ("Content-Length", "0")],
                )
                return [b""]
        body = self._app(environ, start_response)
        if environ["REQUEST_METHOD"] != "GET":
            return body  # type: ignore[no-any-return]
        relative = environ["PATH_INFO"].removeprefix("/dav/")
        hook = self.after_get.get(relative)
        if hook is None:
            return body  # type: ignore[no-any-return]
        return _then(body, lambda: hook(self.root / relative))

    def __enter__(self) -> DavServer:
        self._server.prepare()
        self._thread = threading.Thread(target=self._server.serve, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _then(body: Iterable[bytes], after: Callable[[], None]) -> list[bytes]:
    # Read in full before the hook runs (the hooked files are small): running the hook
    # after the last chunk was handed to the server raced the client, which could finish
    # reading and ask for the ETag again before the hook had run.
    try:
        chunks = list(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    after()
    return chunks


_MULTISTATUS = """<?xml version="1.0" encoding="utf-8"?>
<d:multistatus xmlns:d="DAV:">
<d:response><d:href>/drive/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/>
</d:resourcetype><d:getetag>"root"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status>
</d:propstat></d:response>
{files}
</d:multistatus>"""
_FILE = """<d:response><d:href>/drive/{name}</d:href><d:propstat><d:prop><d:resourcetype/>
<d:getetag>"{etag}"</d:getetag><d:getcontentlength>{size}</d:getcontentlength></d:prop>
<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"""

TWO_GB = 2 * 1024 * 1024 * 1024


class StubDrive:
    """A drive at `/drive/` holding two 2 GB files (streamed zeros), or answering 500."""

    def __init__(self) -> None:
        self.failing = False
        self.sent_bytes = 0
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/drive/"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.failing:
            return web.Response(status=500, text="Internal Server Error")
        if request.path.startswith("/moved/"):
            # Another loopback address, which the deployment did not allow.
            location = f"http://127.0.0.2:{self.port}/drive/"
            return web.Response(status=307, headers={"Location": location})
        if request.method == "PROPFIND":
            if request.path != "/drive/":
                return web.Response(status=404)
            depth_one = request.headers.get("Depth") == "1"
            # huge.pdf says its size; liar.pdf lists 1,000 bytes and sends 2 GB.
            files = (
                _FILE.format(name="huge.pdf", etag="big-1", size=TWO_GB)
                + _FILE.format(name="liar.pdf", etag="liar-1", size=1000)
                if depth_one
                else ""
            )
            body = _MULTISTATUS.format(files=files)
            return web.Response(status=207, body=body.encode(), content_type="application/xml")
        if request.method == "GET" and request.path in ("/drive/huge.pdf", "/drive/liar.pdf"):
            etag = '"big-1"' if request.path.endswith("huge.pdf") else '"liar-1"'
            response = web.StreamResponse(headers={"ETag": etag})
            response.content_length = TWO_GB
            await response.prepare(request)
            block = b"\0" * (1024 * 1024)
            for _ in range(TWO_GB // len(block)):
                await response.write(block)
                self.sent_bytes += len(block)
            return response
        return web.Response(status=404)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
