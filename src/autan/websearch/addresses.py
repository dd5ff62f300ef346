"""Which hosts and addresses may be fetched: the deployment's and the organisation's rules.

A page is fetched only from a public address, unless the deployment's `allowed_hosts`
names its host (tests, intranets). Organisations may narrow what is read further with an
allow-list and a block-list of domains.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from autan.websearch.errors import FetchRefused

_DEFAULT_PORTS = {"http": 80, "https": 443}


def public_address(address: str) -> bool:
    """Whether an IP address is on the public Internet (not loopback, private, link-local,
    multicast, reserved or metadata)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _matches(host: str, domain: str) -> bool:
    domain = domain.strip().lower().removeprefix("*.").strip(".")
    return bool(domain) and (host == domain or host.endswith("." + domain))


@dataclass(frozen=True, slots=True)
class DomainRules:
    """An organisation's domains: only these (when any are given), never those."""

    allowed: Sequence[str] = field(default_factory=tuple)
    blocked: Sequence[str] = field(default_factory=tuple)

    def permits(self, host: str) -> bool:
        """Whether pages of this host may be read for the organisation."""
        host = host.lower().rstrip(".")
        if any(_matches(host, d) for d in self.blocked):
            return False
        return not self.allowed or any(_matches(host, d) for d in self.allowed)


class HostRules:
    """The deployment's allow-list of `host[:port]` reachable even on private addresses."""

    def __init__(self, allowed: Sequence[str]) -> None:
        self._allowed = frozenset(item.lower() for item in allowed)

    def exempt(self, host: str, port: int) -> bool:
        host = host.lower().strip("[]")
        return host in self._allowed or f"{host}:{port}" in self._allowed

    def check_url(self, url: str, rules: DomainRules) -> tuple[SplitResult, str, int]:
        """The parts of a URL that may be fetched, or FetchRefused saying why not."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise FetchRefused("bad_url", url[:200]) from exc
        if parts.scheme not in _DEFAULT_PORTS:
            raise FetchRefused("scheme", parts.scheme)
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise FetchRefused("credentials")
        host = (parts.hostname or "").lower()
        if not host:
            raise FetchRefused("bad_url", url[:200])
        if not rules.permits(host):
            raise FetchRefused("domain", host)
        return parts, host, port or _DEFAULT_PORTS[parts.scheme]

    async def check_host(self, resolver: AbstractResolver, host: str, port: int) -> None:
        """Refuse a host that is, or resolves to, a non-public address (unless exempt)."""
        if self.exempt(host, port):
            return
        try:
            ipaddress.ip_address(host.strip("[]"))
            addresses = [host.strip("[]")]
        except ValueError:
            try:
                addresses = [r["host"] for r in await resolver.resolve(host, port)]
            except OSError as exc:
                raise FetchRefused("dns", host) from exc
        for address in addresses:
            if not public_address(address):
                raise FetchRefused("address", f"{host} -> {address}")


class GuardedResolver(AbstractResolver):
    """Resolves like the system, then drops every non-public address of a non-exempt host.

    The check before a request names the reason; this one guards the connection itself,
    so a name that resolves differently the second time (DNS rebinding) gets nowhere.
    """

    def __init__(self, rules: HostRules) -> None:
        self._inner = ThreadedResolver()
        self._rules = rules

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if self._rules.exempt(host, port):
            return found
        kept = [r for r in found if public_address(r["host"])]
        if not kept:
            raise OSError(f"{host} resolves to no public address")
        return kept

    async def close(self) -> None:
        await self._inner.close()
