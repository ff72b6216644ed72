"""Markdown rendering: the cache of rendered texts changes nothing a reader gets, and stays
within its bounds; the URL filter quotes as ``urllib.parse.quote(v, safe="")`` does."""

from __future__ import annotations

import string
import uuid
from urllib.parse import quote

import nh3

from focushub.web import markdown
from focushub.web.kit import templates

TEXTS = [
    "**Bold** and [a link](https://example.org) and [bad](javascript:alert(1))",
    "<script>alert('x')</script>\n\n<img src=x onerror=alert(1)>",
    "![pic](data:image/png;base64,AAAA) ![ok](https://example.org/a.png \"title\")",
    "```python\nfor i in range(3):\n    pass\n```\n\n```nosuchlanguage\n<b>x</b>\n```",
    "| a | b |\n|:-|-:|\n| 1 | 2 |\n\n~~gone~~\n\n3. three\n4. four",
    "[ref][1] and <mailto:a@example.org>\n\n[1]: http://example.org/x\n",
]


def _render_with_clean(text: str) -> str:
    """The sanitizing call as written before the Cleaner was built once."""
    return nh3.clean(markdown._MD.render(text), tags=markdown.TAGS,
                     attributes=markdown.ATTRIBUTES, link_rel="nofollow ugc noopener",
                     url_schemes={"http", "https", "mailto"},
                     filter_style_properties={"text-align"})


def test_rendering_is_the_same_sanitized_html_cached_or_not() -> None:
    for text in TEXTS:
        expected = _render_with_clean(text)
        first, again = markdown.render(text), markdown.render(text)
        assert first == expected and again == expected
    html = markdown.render(TEXTS[0] + "\n\n" + TEXTS[1])
    assert 'rel="nofollow ugc noopener"' in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert markdown.render("") == "" and markdown.render(None) == ""


def test_the_same_text_is_rendered_once() -> None:
    text = f"cached {uuid.uuid4()} *text*"
    assert markdown._CACHE.get(text) is None
    html = markdown.render(text)
    assert markdown._CACHE.get(text) == html == "<p>cached " + text[7:-7] + " <em>text</em></p>\n"


def test_the_cache_keeps_the_most_recently_used_within_its_budget() -> None:
    cache = markdown._RenderCache(budget=100)
    for n in range(10):  # each entry costs 2 + 18 = 20 characters: five fit
        cache.put(f"t{n}", markdown.Markup(f"<p>{n:012d}</p>\n"[:18]))
        if n == 5:
            assert cache.get("t2") is not None  # read: the newer t3, t4 and t5 leave first
        assert cache.size <= 100
    assert len(cache) == 5 and cache.size == 100
    assert [t for t in (f"t{n}" for n in range(10)) if cache.get(t) is not None] == [
        "t2", "t6", "t7", "t8", "t9"]
    cache.put("huge", markdown.Markup("x" * 200))  # larger than the whole budget: not kept
    assert cache.get("huge") is None and len(cache) == 5


def test_urlquote_matches_the_standard_library() -> None:
    urlquote = templates.env.filters["urlquote"]
    ascii_text = "".join(map(chr, range(128)))
    for value in (ascii_text, string.printable, "/questions/x#answer-1?a=b&c=d e",
                  "é ü/日本 #", uuid.uuid4(), 42, ""):
        assert urlquote(value) == quote(str(value), safe="")


def test_plain_keeps_the_words_of_markdown_and_none_of_its_markup():
    plain = markdown.plain
    assert plain("**Loops** repeat, see [the docs](https://docs.python.org/).\n\n- one\n- two") \
        == "Loops repeat, see the docs. one two"
    assert plain("# Title\n\n`code` and _emphasis_") == "Title code and emphasis"
    # Text, not HTML: whatever it says is escaped where it is put.
    assert plain("a < b & <script>x</script>") == "a < b & <script>x</script>"
    assert plain("") == "" and plain(None) == ""


async def test_a_costly_text_is_rendered_beside_the_event_loop_not_in_it():
    """markdown-it takes about 10 µs a character on some inputs (``![`` repeated: a fifth of
    a second for a 20,000-character post). Pages have such texts rendered by prepare() in a
    worker thread, and the loop goes on meanwhile: a coroutine beside it keeps running
    (in the loop it would not run at all until the text was done)."""
    import asyncio

    text = "![" * 10_000 + f" {uuid.uuid4()}"
    finished = False
    ticks = 0

    async def beside() -> None:
        nonlocal ticks
        while not finished:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(beside())
    await asyncio.sleep(0)
    await markdown.prepare([text, None, text])
    finished = True
    await ticker
    assert ticks > 10
    assert markdown._CACHE.get(text) is not None  # the page's filter finds it there
    assert str(markdown.render(text)).startswith("<p>![![")
