"""Markdown to safe HTML: markdown-it-py renders (raw HTML off), nh3 sanitizes.

Two layers: markdown-it-py escapes any HTML written in the Markdown, and nh3 (the
Ammonia sanitizer) keeps only an allow-list of tags and attributes on what comes
out, with ``rel="nofollow ugc noopener"`` on every link and only http(s) and
mailto URLs. Fenced code blocks with a known language are highlighted by
Pygments (classes only, styled by the site's own CSS).

The result depends on the text alone (one fixed configuration, no per-reader or per-request
input), so each process keeps the most recently rendered texts: a busy question page shows
the same fifty answers to every reader.
"""

from __future__ import annotations

import html as html_entities
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

import anyio
import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

_FORMATTER = HtmlFormatter(nowrap=True)


def _highlight(code: str, lang: str, _attrs: str) -> str:
    if not lang:
        return ""
    try:
        lexer = get_lexer_by_name(lang)
    except ClassNotFound:
        return ""  # markdown-it escapes it as plain code
    return highlight(code, lexer, _FORMATTER)


_MD = (MarkdownIt("commonmark", {"html": False, "highlight": _highlight, "typographer": False})
       .enable("table").enable("strikethrough"))

TAGS = {"p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul", "ol",
        "li", "a", "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th",
        "td", "span", "img"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "code": {"class"},
              "span": {"class"}, "th": {"style"}, "td": {"style"}, "ol": {"start"}}

# Built once: nh3.clean() would build the same allow-lists again on every call (five times
# the cost of cleaning an ordinary answer).
_CLEANER = nh3.Cleaner(tags=TAGS, attributes=ATTRIBUTES, link_rel="nofollow ugc noopener",
                       url_schemes={"http", "https", "mailto"},
                       filter_style_properties={"text-align"})

# What the cache may hold, in characters of source plus HTML (about 4 MB of ASCII text per
# process); the least recently used texts leave first.
CACHE_CHARS = 4_000_000


class _RenderCache:
    """Least recently used output (HTML, or plain text) by source text, bounded by the
    characters both hold."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()  # filled by prepare()'s thread, read in the event loop

    def get(self, text: str) -> str | None:
        with self._lock:
            html = self._entries.get(text)
            if html is not None:
                self._entries.move_to_end(text)
            return html

    def put(self, text: str, html: str) -> None:
        cost = len(text) + len(html)
        if cost > self.budget:
            return
        with self._lock:
            if text in self._entries:
                return
            self._entries[text] = html
            self.size += cost
            while self.size > self.budget:
                old_text, old_html = self._entries.popitem(last=False)
                self.size -= len(old_text) + len(old_html)

    def __len__(self) -> int:
        return len(self._entries)


_CACHE = _RenderCache(CACHE_CHARS)


def _render(text: str) -> Markup:
    return Markup(_CLEANER.clean(_MD.render(text)))


async def prepare(texts: Iterable[str | None]) -> None:
    """Render in a worker thread those of ``texts`` the cache does not hold, so that the
    page's template then finds them there. Prose costs markdown-it about 15 ns a character,
    but some inputs take a thousand times that (``![`` repeated: about 0.2 s for a
    20,000-character post), which in the event loop would hold every other request of the
    process for as long."""
    missing = list(dict.fromkeys(t for t in texts if t and _CACHE.get(t) is None))
    if missing:
        await anyio.to_thread.run_sync(_fill, missing)


def _fill(texts: list[str]) -> None:
    for text in texts:
        _CACHE.put(text, _render(text))


def render(text: str | None) -> Markup:
    """Safe HTML of the Markdown ``text``; the same text always gives the same HTML."""
    if not text:
        return Markup("")
    html = _CACHE.get(text)
    if html is None:
        html = _render(text)
        _CACHE.put(text, html)
    return Markup(html)


# Nothing kept: every tag goes, its text stays (nh3 drops script and style with their text).
_TEXT_ONLY = nh3.Cleaner(tags=set(), attributes={})
_SPACES = re.compile(r"\s+")


# Previews repeat as much as rendered texts do (a feed page shows twenty), and cost about as
# much to make: their own cache, a quarter of the size.
_PLAIN_CACHE = _RenderCache(CACHE_CHARS // 4)


def plain(text: str | None) -> str:
    """The words of the Markdown ``text`` without its markup, on one line: for previews
    (feed cards, search snippets, notifications) where the source's ``**``, ``#`` or
    ``[…](…)`` would show as such. Plain text, to be escaped where it is put."""
    if not text:
        return ""
    words = _PLAIN_CACHE.get(text)
    if words is None:
        words = _SPACES.sub(" ", html_entities.unescape(_TEXT_ONLY.clean(_MD.render(text)))).strip()
        _PLAIN_CACHE.put(text, words)
    return words
