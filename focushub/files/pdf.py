"""PDF pages and text, read by PDFium in a child process of its own.

PDFium (pypdfium2) may not be called from two threads at once: two previews made at the same
time (two resource jobs) aborted the whole process, the API server with its in-process job
worker included. And a hostile PDF can keep PDFium busy, or growing, for as long as it
likes, in a thread nothing can stop. So each PDF is read by a fresh
``python -m focushub.files.pdf`` that may use at most :data:`MEMORY_BYTES` of address space
and is killed at its deadline; whatever goes wrong there is :class:`PdfUnreadable` here.
The parent only ever sees bytes: a PNG of the first page, or UTF-8 text.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

MEMORY_BYTES = 1 << 30
PAGE_SECONDS = 20.0
# The text is read page by page until its own deadline (``seconds``); the child is killed
# this much later if one page never ends.
KILL_MARGIN_SECONDS = 10.0


class PdfUnreadable(Exception):
    """PDFium could not read the file in time, within its memory, or at all."""


def _child(args: list[str], seconds: float) -> bytes:
    try:
        done = subprocess.run([sys.executable, "-m", "focushub.files.pdf", *args],
                              capture_output=True, timeout=seconds, check=False)
    except subprocess.TimeoutExpired as exc:  # the child is killed by run()
        raise PdfUnreadable(f"not read within {seconds:.0f} s") from exc
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise PdfUnreadable(said[-1][:300] if said else f"exit status {done.returncode}")
    return done.stdout


def first_page_png(path: Path, size: int) -> bytes:
    """The first page of the PDF at ``path`` as a PNG at most ``size`` pixels a side."""
    return _child(["page", str(path), str(size)], PAGE_SECONDS)


def text(path: Path, *, max_pages: int, max_chars: int, seconds: float) -> str:
    """The text of the PDF's first ``max_pages`` pages, read until ``max_chars`` characters
    or ``seconds`` have passed (whichever first)."""
    out = _child(["text", str(path), str(max_pages), str(max_chars), str(seconds)],
                 seconds + KILL_MARGIN_SECONDS)
    return out.decode("utf-8", errors="replace")


# --- the child --------------------------------------------------------------------------------


def _page(path: Path, size: int) -> bytes:
    import io

    import pypdfium2

    pdf = pypdfium2.PdfDocument(path)
    try:
        page = pdf[0]
        width, height = page.get_size()
        bitmap = page.render(scale=min(4.0, max(size / max(width, height, 1), 0.01)))
        image = bitmap.to_pil()
        image.thumbnail((size, size))
        out = io.BytesIO()
        image.save(out, "PNG")
        return out.getvalue()
    finally:
        pdf.close()


def _text(path: Path, max_pages: int, max_chars: int, seconds: float) -> bytes:
    import pypdfium2

    deadline = time.monotonic() + seconds
    parts: list[str] = []
    total = 0
    pdf = pypdfium2.PdfDocument(path)
    try:
        for index in range(min(len(pdf), max_pages)):
            if time.monotonic() > deadline or total >= max_chars:
                break
            part = pdf[index].get_textpage().get_text_bounded()
            parts.append(part)
            total += len(part)
    finally:
        pdf.close()
    return "\n".join(parts)[:max_chars].encode("utf-8", errors="replace")


def main(argv: list[str]) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    kind, path, *rest = argv
    if kind == "page":
        out = _page(Path(path), int(rest[0]))
    elif kind == "text":
        out = _text(Path(path), int(rest[0]), int(rest[1]), float(rest[2]))
    else:
        print(f"unknown request {kind!r}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
