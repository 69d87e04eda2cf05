"""The demo's look at the callback inbox: the real page, signed in to as a therapist, as text.

``callback_desk.demo`` and ``callback_desk.web`` are sibling features (import contracts): the
CLI hands the inbox's own application and account code in as :class:`InboxParts`. This module
only drives them like a browser would (the sign-in form with its CSRF field, the session cookie,
the inbox page) over an in-process ASGI client, and turns the caller cards into lines of text.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from callback_desk.core.config import Settings
from callback_desk.core.exceptions import ConfigError, DemoError
from callback_desk.core.store import Store

# (settings, store) -> the inbox's ASGI application (callback_desk.web.app.create_app). On the
# real clock: a session issued "at" the morning's report time would predate the user's password
# (set just now), and the inbox rightly signs such sessions out.
AppFactory = Callable[[Settings, Store], Any]
# (settings, user name, desk extension, password) -> the user added, as `callback-desk user add`.
AddUser = Callable[[Settings, str, str, str], Awaitable[None]]

# Any https address: the session cookie is Secure and __Host-, as in production.
BASE_URL = "https://inbox.demo"


@dataclass(frozen=True)
class InboxParts:
    app: AppFactory
    add_user: AddUser


@dataclass(frozen=True)
class Card:
    """One caller card of the inbox page, its texts in page order."""

    number: str
    name: str
    texts: tuple[str, ...]  # the card's other paragraphs: calls, when, line, what to say
    buttons: tuple[str, ...]

    def lines(self) -> list[str]:
        head = f"{self.number}  {self.name}".rstrip()
        return [
            head,
            *(f"  {t}" for t in self.texts),
            "  " + "  ".join(f"[{b}]" for b in self.buttons),
        ]


class _Page(HTMLParser):
    """The caller cards (``section.caller``) and the form's CSRF field of a page."""

    BLOCKS = ("h2", "p", "button")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.csrf = ""
        self.cards: list[list[tuple[str, str]]] = []
        self._in_card = False
        self._block: tuple[str, str, list[str]] | None = None  # (tag, class, texts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if tag == "input" and found.get("name") == "csrf":
            self.csrf = found.get("value") or ""
        elif tag == "section" and "caller" in classes:
            self._in_card = True
            self.cards.append([])
        elif self._in_card and tag in self.BLOCKS and self._block is None:
            self._block = (tag, classes[0] if classes else "", [])
        elif tag == "br" and self._block is not None:
            self._block[2].append(" · ")

    def handle_endtag(self, tag: str) -> None:
        if self._block is not None and tag == self._block[0]:
            kind, cls, texts = self._block
            self.cards[-1].append((cls if kind == "p" else kind, " ".join("".join(texts).split())))
            self._block = None
        elif tag == "section":
            self._in_card = False

    def handle_data(self, data: str) -> None:
        if self._block is not None:
            self._block[2].append(data)


def _texts(blocks: list[tuple[str, str]], kind: str) -> list[str]:
    return [text for k, text in blocks if k == kind]


def read_page(html: str) -> tuple[str, list[Card]]:
    """(the CSRF field's value, the caller cards) of an inbox page."""
    page = _Page()
    page.feed(html)
    page.close()
    cards = []
    for blocks in page.cards:
        name = " ".join(_texts(blocks, "name") + [f"({t})" for t in _texts(blocks, "new")])
        texts = tuple(t for k, t in blocks if k in ("meta", "say") and t)
        cards.append(
            Card(" ".join(_texts(blocks, "h2")), name, texts, tuple(_texts(blocks, "button")))
        )
    return page.csrf, cards


async def look(
    parts: InboxParts, settings: Settings, store: Store, desk: str, username: str
) -> list[Card]:
    """Add ``username`` (a therapist at ``desk``), sign in as them, and read their inbox."""
    try:
        import httpx
    except ImportError as exc:
        raise ConfigError(
            "the demo's look at the inbox needs httpx: pip install 'callback-desk[demo]'"
        ) from exc
    # Never shown nor kept: the demo's user exists only in the demo's own database.
    password = secrets.token_urlsafe(18)
    await parts.add_user(settings, username, desk, password)
    app = parts.app(settings, store)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        csrf, _ = read_page((await client.get("/sign-in")).text)
        signed = await client.post(
            "/sign-in", data={"username": username, "password": password, "csrf": csrf}
        )
        if signed.status_code != 303:
            raise DemoError(f"signing in to the inbox as {username} gave HTTP {signed.status_code}")
        inbox = await client.get("/", headers={"accept": "text/html"})
        if inbox.status_code != 200:
            raise DemoError(f"the inbox page gave HTTP {inbox.status_code}")
    return read_page(inbox.text)[1]
