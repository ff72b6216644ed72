"""Previews and text of stored files, made from a local copy by a job.

* Images and the first page of a PDF become a JPEG of at most
  :data:`PREVIEW_SIZE` pixels a side (Pillow; PDF pages rendered by pdfium),
  without any metadata (EXIF, GPS) of the original.
* Text files give their first :data:`PREVIEW_LINES` lines.
* The text of PDFs and text files is extracted for search, bounded by
  :data:`MAX_TEXT_CHARS` characters, :data:`MAX_PDF_PAGES` pages and
  :data:`EXTRACT_SECONDS` seconds.
* PDFs are read by PDFium in a child process each (``files/pdf.py``): PDFium may not run in
  two threads at once, and a hostile file is killed at its deadline.

Decoding untrusted images is bounded too: Pillow refuses images over
:data:`MAX_PIXELS` (decompression bombs).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from focushub.files import pdf

PREVIEW_SIZE = 480
PREVIEW_LINES = 40
MAX_TEXT_CHARS = 200_000
MAX_PDF_PAGES = 200
EXTRACT_SECONDS = 20.0
MAX_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


@dataclass(frozen=True, slots=True)
class Preview:
    image: bytes | None = None  # JPEG
    text: str | None = None


def _jpeg(image: Image.Image, size: int = PREVIEW_SIZE) -> bytes:
    _fit(image, size)
    image = ImageOps.exif_transpose(image)  # turn by the EXIF orientation, then drop EXIF
    out = io.BytesIO()  # saved with no exif= : nothing of the original
    _opaque(image).save(out, "JPEG", quality=82, optimize=True)
    return out.getvalue()


def _opaque(image: Image.Image) -> Image.Image:
    """``image`` for JPEG, which has no transparency: what is transparent is laid on white,
    not left to the colour its hidden pixels hold (often black)."""
    if image.mode in ("RGB", "L"):
        return image
    background = Image.new("RGB", image.size, "white")
    rgba = image.convert("RGBA")
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _fit(image: Image.Image, size: int) -> None:
    """Make ``image`` (just opened) fit ``size`` pixels a side, in place and before anything
    else decodes it: a JPEG is then decoded at the scale it needs (up to an eighth a side),
    not whole (a 64-megapixel photo is 192 MB), and turning it by its EXIF orientation
    afterwards (into a square box, so it still fits) copies only the small image."""
    image.thumbnail((size, size))


def _pdf_first_page(path: Path) -> bytes:
    with Image.open(io.BytesIO(pdf.first_page_png(path, PREVIEW_SIZE))) as page:
        return _jpeg(page)


def _first_lines(path: Path) -> str:
    lines = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            lines.append(line.rstrip("\n")[:200])
            if len(lines) >= PREVIEW_LINES:
                break
    return "\n".join(lines)[:4000]


def too_many_pixels(path: Path) -> bool:
    """Whether the image at ``path`` has more than :data:`MAX_PIXELS`, from its header alone
    (nothing is decoded). An unreadable header is not this function's refusal: decoding
    it later fails as a corrupt image."""
    try:
        with warnings.catch_warnings():
            # Pillow warns from MAX_PIXELS and raises from twice that; both are "too many".
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        return True
    except Exception:
        return False
    return width * height > MAX_PIXELS


def make_preview(path: Path, content_type: str) -> Preview | None:
    """The preview of the file at ``path``; None when its type has none."""
    if content_type in IMAGE_TYPES:
        with Image.open(path) as image:
            return Preview(image=_jpeg(image))
    if content_type == "application/pdf":
        return Preview(image=_pdf_first_page(path))
    if content_type == "text/plain":
        return Preview(text=_first_lines(path))
    return None


def extract_text(path: Path, content_type: str) -> str | None:
    """Searchable text of a PDF or text file, bounded; None for other types."""
    if content_type == "text/plain":
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.read(MAX_TEXT_CHARS)
    if content_type != "application/pdf":
        return None
    found = pdf.text(path, max_pages=MAX_PDF_PAGES, max_chars=MAX_TEXT_CHARS,
                     seconds=EXTRACT_SECONDS)
    return found[:MAX_TEXT_CHARS].replace("\x00", "")


def strip_image(path: Path, content_type: str, size: int | None = None) -> bytes:
    """The image re-encoded without metadata (EXIF location included), optionally fitted into
    ``size`` pixels a side; PNG stays PNG (transparency), everything else becomes JPEG."""
    with Image.open(path) as image:
        if size is not None:
            _fit(image, size)
        image = ImageOps.exif_transpose(image)
        out = io.BytesIO()
        if content_type == "image/png":
            image.save(out, "PNG", optimize=True)
        else:
            _opaque(image).save(out, "JPEG", quality=88)
        return out.getvalue()
