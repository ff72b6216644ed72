"""Markdown to safe HTML: markdown-it-py renders (raw HTML off), nh3 sanitizes.

Two layers: markdown-it-py escapes any HTML written in the Markdown, and nh3 (the
Ammonia sanitizer) keeps only an allow-list of tags and attributes on what comes
out, with ``rel="nofollow ugc noopener"`` on every link and only http(s) and
mailto URLs. Fenced code blocks with a known language are highlighted by
Pygments (classes only, styled by the site's own CSS).
"""

from __future__ import annotations

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


def render(text: str | None) -> Markup:
    """Safe HTML of the Markdown ``text``."""
    if not text:
        return Markup("")
    html = _MD.render(text)
    return Markup(nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES,
                            link_rel="nofollow ugc noopener",
                            url_schemes={"http", "https", "mailto"},
                            filter_style_properties={"text-align"}))
