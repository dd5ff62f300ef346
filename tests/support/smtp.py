"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for e-mail tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import free_port


@dataclass
class Mailbox:
    """What the server accepted, parsed; `port` is where it listens."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    def settings(self, **extra: object) -> dict[str, object]:
        """`AUTAN_MAIL__*` values that reach this server."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "tls": "none",
            "sender": "Autan <ne-pas-repondre@autan.test>",
            "site_url": "http://autan.test",
            **extra,
        }

    async def wait_for(self, count: int, timeout: float = 20) -> list[EmailMessage]:
        """Wait until `count` messages arrived (sending may run after the response)."""
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                await asyncio.sleep(0.05)
        return self.messages


class _Keep:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.box.messages.append(parsed)
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(_Keep(box), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def body(message: EmailMessage, subtype: str) -> str:
    """The text/plain or text/html part of a message."""
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, subtype
    content = part.get_content()
    assert isinstance(content, str)
    return content
