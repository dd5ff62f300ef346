"""A WebDAV client on aiohttp: PROPFIND listing, streamed downloads, every hop checked.

Why not a WebDAV library from PyPI: the maintained ones (`webdav4`, `webdavclient3`) are
synchronous (httpx.Client, requests) and follow redirects on their own; here every request
and redirect hop goes through the same address rules as web search (no private address
unless the deployment allows the host, DNS rebinding guarded by the resolver), downloads
stream into the documents' spool under the size limit, and listing is bounded. PROPFIND is
sent with `Depth: 1` folder by folder (Nextcloud refuses `Depth: infinity` by default).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import quote, unquote, urljoin, urlsplit

import aiohttp
from aiohttp.resolver import ThreadedResolver
from lxml import etree

from autan.connectors import errors
from autan.connectors.settings import ConnectorSettings
from autan.documents.errors import FileTooLarge
from autan.documents.storage import FileStore, SpooledFile
from autan.websearch.addresses import DomainRules, GuardedResolver, HostRules
from autan.websearch.errors import FetchRefused

_PROPFIND = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:getetag/>'
    b"<d:getcontentlength/><d:getlastmodified/></d:prop></d:propfind>"
)
_DAV = "{DAV:}"
_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_LISTING_BYTES = 64 * 1024 * 1024
_NO_RULES = DomainRules()


class Auth(Protocol):
    """What a request to a drive authenticates with: an app password or a bearer token."""

    async def authorization(self) -> str:
        """The `Authorization` header's value, as of now."""
        ...


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str

    async def authorization(self) -> str:
        """HTTP Basic with the app password."""
        return aiohttp.encode_basic_auth(self.username, self.password)


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file of the folder: its path under the folder (decoded), ETag and size."""

    path: str
    etag: str
    size: int


@dataclass(frozen=True, slots=True)
class FolderEntry:
    """One entry of one level of the folder (a file, or a sub-folder whose path ends "/")."""

    path: str
    name: str
    folder: bool
    size: int
    modified: datetime | None


@dataclass(frozen=True, slots=True)
class _Entry:
    href_path: str
    folder: bool
    etag: str
    size: int
    modified: datetime | None = None


def client_session(settings: ConnectorSettings) -> aiohttp.ClientSession:
    """The session drives are reached through: guarded resolver, no cookies, no env proxies."""
    rules = HostRules(settings.allowed_host_list())
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(rules),
        limit=64,
        ttl_dns_cache=60,
        keepalive_timeout=15,
        ssl=settings.verify_tls,
    )
    return aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
    )


def folder_url(url: str) -> str:
    """The folder's address with one trailing slash (relative paths resolve under it)."""
    url = url.strip()
    return url if url.endswith("/") else url + "/"


class WebDav:
    """Lists and downloads the files of WebDAV folders under the deployment's rules."""

    def __init__(self, http: aiohttp.ClientSession, settings: ConnectorSettings) -> None:
        self._http = http
        self._settings = settings
        self._hosts = HostRules(settings.allowed_host_list())
        self._resolver = ThreadedResolver()

    async def check_url(self, url: str) -> None:
        """Refuse an address that may not be reached (scheme, private address, plain http)."""
        try:
            parts, host, port = self._hosts.check_url(url, _NO_RULES)
        except FetchRefused as exc:
            raise errors.bad_url() from exc
        if parts.scheme != "https" and not self._hosts.exempt(host, port):
            raise errors.refused_address(host)
        try:
            await self._hosts.check_host(self._resolver, host, port)
        except FetchRefused as exc:
            if exc.reason == "dns":
                raise errors.unreachable(f"unknown host {host}") from exc
            raise errors.refused_address(host) from exc

    async def list_files(self, url: str, auth: Auth) -> list[RemoteFile]:
        """Every file under the folder, recursively (bounded by `max_files`, `max_depth`)."""
        root = folder_url(url)
        base_path = urlsplit(root).path
        found: list[RemoteFile] = []
        level = [root]
        seen: set[str] = set()
        gate = asyncio.Semaphore(self._settings.concurrency)

        async def one(folder: str) -> list[_Entry]:
            async with gate:
                return await self._propfind(folder, auth, depth="1")

        for depth in range(self._settings.max_depth + 1):
            listings = await asyncio.gather(*(one(folder) for folder in level))
            level = []
            for entries in listings:
                for entry in entries:
                    relative = _relative(entry.href_path, base_path)
                    if relative is None or relative == "":
                        continue  # the folder itself, or an href outside it (ignored)
                    if entry.folder:
                        # Each listing names its own folder too: list a folder once.
                        name = relative.rstrip("/") + "/"
                        if depth < self._settings.max_depth and name not in seen:
                            seen.add(name)
                            level.append(urljoin(root, quote(name)))
                        continue
                    found.append(RemoteFile(relative, entry.etag, entry.size))
                    if len(found) > self._settings.max_files:
                        raise errors.too_many_files(self._settings.max_files)
            if not level:
                break
        found.sort(key=lambda f: f.path)
        return found

    async def list_level(self, url: str, sub: str, auth: Auth) -> list[FolderEntry]:
        """Sub-folders, then files, of one level (`sub`: "" or "a/b/"), up to `max_files`."""
        root = folder_url(url)
        base_path = urlsplit(root).path
        entries = await self._propfind(urljoin(root, quote(sub)), auth, depth="1")
        found: list[FolderEntry] = []
        for entry in entries:
            relative = _relative(entry.href_path, base_path)
            if relative is None or not relative.startswith(sub):
                continue
            name = relative[len(sub) :].rstrip("/")
            if not name or "/" in name:
                continue  # the level itself (each listing names it), or not directly in it
            path = sub + name + ("/" if entry.folder else "")
            found.append(FolderEntry(path, name, entry.folder, entry.size, entry.modified))
            if len(found) > self._settings.max_files:
                raise errors.too_many_files(self._settings.max_files)
        found.sort(key=lambda e: (not e.folder, e.name.casefold()))
        return found

    async def probe(self, url: str, auth: Auth) -> None:
        """Check that the address is a WebDAV folder these credentials may read."""
        entries = await self._propfind(folder_url(url), auth, depth="0")
        if not entries or not entries[0].folder:
            raise errors.not_webdav()

    async def etag_of(self, url: str, path: str, auth: Auth) -> str:
        """The current ETag of one file of the folder."""
        entries = await self._propfind(file_url(url, path), auth, depth="0")
        if not entries:
            raise errors.folder_not_found()
        return entries[0].etag

    async def download(
        self, url: str, path: str, auth: Auth, etag: str, store: FileStore, max_bytes: int
    ) -> SpooledFile:
        """The file as listed, spooled; `file_changed` if its ETag is no longer `etag`."""
        async with self._request("GET", file_url(url, path), auth) as response:
            _check_status(response)
            sent = response.headers.get("ETag")
            if sent is not None and not same_etag(sent, etag):
                raise errors.file_changed()
            if response.content_length is not None and response.content_length > max_bytes:
                raise errors.file_too_large(max_bytes)
            try:
                spooled = await store.spool(_chunks(response), max_bytes)
            except FileTooLarge as exc:
                raise errors.file_too_large(max_bytes) from exc
        return spooled

    async def _propfind(self, url: str, auth: Auth, *, depth: str) -> list[_Entry]:
        headers = {"Depth": depth, "Content-Type": "application/xml; charset=utf-8"}
        async with self._request("PROPFIND", url, auth, headers, _PROPFIND) as response:
            _check_status(response, expect_multistatus=True)
            body = bytearray()
            async for chunk in response.content.iter_chunked(256 * 1024):
                body += chunk
                if len(body) > _MAX_LISTING_BYTES:
                    raise errors.not_webdav()
        return await asyncio.to_thread(parse_multistatus, bytes(body))

    def _request(
        self,
        method: str,
        url: str,
        auth: Auth,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> _Hops:
        return _Hops(self, method, url, auth, headers or {}, body)

    async def _open(
        self,
        method: str,
        url: str,
        auth: Auth,
        headers: dict[str, str],
        body: bytes | None,
    ) -> aiohttp.ClientResponse:
        origin = urlsplit(url).netloc
        authorization = await auth.authorization()
        for _hop in range(self._settings.max_redirects + 1):
            await self.check_url(url)
            try:
                response = await self._http.request(
                    method,
                    url,
                    # The credential goes only to the folder's own host, never to a
                    # redirect's.
                    headers={**headers, "Authorization": authorization}
                    if urlsplit(url).netloc == origin
                    else headers,
                    data=body,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(
                        total=None,
                        sock_connect=self._settings.timeout,
                        sock_read=self._settings.timeout,
                    ),
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise errors.unreachable(type(exc).__name__ + _detail(exc)) from exc
            if response.status not in _REDIRECTS:
                return response
            location = response.headers.get("Location")
            response.release()
            if not location:
                raise errors.not_webdav()
            url = urljoin(url, location)
        raise errors.unreachable("too many redirects")


class _Hops:
    """`async with` over a request whose redirects are followed and checked one by one."""

    def __init__(
        self,
        dav: WebDav,
        method: str,
        url: str,
        auth: Auth,
        headers: dict[str, str],
        body: bytes | None,
    ) -> None:
        self._args = (method, url, auth, headers, body)
        self._dav = dav
        self._response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> aiohttp.ClientResponse:
        self._response = await self._dav._open(*self._args)
        return self._response

    async def __aexit__(self, *exc: object) -> None:
        if self._response is not None:
            self._response.release()


def file_url(url: str, path: str) -> str:
    """The address of a file given by its decoded path under the folder."""
    return urljoin(folder_url(url), quote(path))


def _relative(href: str, base_path: str) -> str | None:
    path = unquote(urlsplit(href).path)
    base = unquote(base_path)
    if not path.startswith(base):
        return None
    relative = path[len(base) :]
    if any(part in ("..", ".") for part in relative.split("/")):
        return None
    return relative


def parse_multistatus(body: bytes) -> list[_Entry]:
    """The entries of a PROPFIND answer; entities are never expanded nor fetched."""
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise errors.not_webdav() from exc
    if root is None or root.tag != f"{_DAV}multistatus":
        raise errors.not_webdav()
    entries = []
    for response in root.iter(f"{_DAV}response"):
        href = response.findtext(f"{_DAV}href")
        if not href:
            continue
        props = _ok_props(response)
        resourcetype = props.get("resourcetype")
        folder = resourcetype is not None and resourcetype.find(f"{_DAV}collection") is not None
        etag = _text(props.get("getetag"))
        size_text = _text(props.get("getcontentlength"))
        size = int(size_text) if size_text.isdigit() else 0
        modified = _date(_text(props.get("getlastmodified")))
        entries.append(_Entry(href.strip(), folder, etag, size, modified))
    return entries


def _ok_props(response: Any) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for propstat in response.iter(f"{_DAV}propstat"):
        status = propstat.findtext(f"{_DAV}status") or ""
        if " 200 " not in status + " ":
            continue
        prop = propstat.find(f"{_DAV}prop")
        if prop is None:
            continue
        for child in prop:
            if isinstance(child.tag, str) and child.tag.startswith(_DAV):
                props[child.tag[len(_DAV) :]] = child
    return props


def _date(text: str) -> datetime | None:
    # RFC 1123 dates (`getlastmodified`); a server's odd value just shows no date.
    try:
        return parsedate_to_datetime(text) if text else None
    except (TypeError, ValueError):
        return None


def _text(element: Any) -> str:
    return "" if element is None else (element.text or "").strip()


def same_etag(a: str, b: str) -> bool:
    """Whether two ETags name one version (servers quote them in one place and not another;
    weak and strong forms of one ETag are the same version for our purpose)."""
    return _bare(a) == _bare(b)


def _bare(etag: str) -> str:
    return etag.strip().removeprefix("W/").strip('"')


def _check_status(response: aiohttp.ClientResponse, *, expect_multistatus: bool = False) -> None:
    status = response.status
    if status in (401, 403):
        raise errors.unauthorized()
    if status in (404, 410):
        raise errors.folder_not_found()
    if status >= 500:
        raise errors.server_error(status)
    if expect_multistatus and status != 207:
        raise errors.not_webdav()
    if not expect_multistatus and status != 200:
        raise errors.server_error(status)


async def _chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    async for chunk in response.content.iter_chunked(256 * 1024):
        yield chunk


def _detail(exc: BaseException) -> str:
    text = str(exc)
    return f": {text[:150]}" if text else ""
