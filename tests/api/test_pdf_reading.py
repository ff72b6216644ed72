"""PDFs are read by PDFium in a child process each (focushub/files/pdf.py): many at once in
threads (jobs side by side), a file PDFium cannot read, or one it takes too long over, cost
the server nothing but that file's preview."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from PIL import Image

from focushub.files import pdf, previews
from tests.api.files_support import pdf_with_text


def test_previews_and_text_made_in_many_threads_at_once(tmp_path: Path):
    """PDFium in two threads of one process at once aborted the process (a server with its
    in-process job worker, two resource jobs side by side)."""
    paths = []
    for n in range(6):
        path = tmp_path / f"{n}.pdf"
        path.write_bytes(pdf_with_text(f"Page number {n}"))
        paths.append(path)
    results: dict[int, tuple[bytes, str]] = {}
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(2):
                preview = previews.make_preview(paths[n], "application/pdf")
                text = previews.extract_text(paths[n], "application/pdf")
            results[n] = (preview.image, text)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(paths))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures and len(results) == len(paths)
    for n, (image, text) in results.items():
        assert f"Page number {n}" in text
        with Image.open(io.BytesIO(image)) as page:
            assert page.format == "JPEG" and max(page.size) == previews.PREVIEW_SIZE


def test_a_file_pdfium_cannot_read_or_not_in_time_is_unreadable(tmp_path: Path, monkeypatch):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nthis is not a PDF at all")
    with pytest.raises(pdf.PdfUnreadable):
        previews.make_preview(broken, "application/pdf")
    with pytest.raises(pdf.PdfUnreadable):
        previews.extract_text(broken, "application/pdf")
    # A child that has not finished at its deadline is killed, and that is said.
    good = tmp_path / "good.pdf"
    good.write_bytes(pdf_with_text("Fine"))
    monkeypatch.setattr(pdf, "PAGE_SECONDS", 0.001)
    with pytest.raises(pdf.PdfUnreadable, match="not read within"):
        previews.make_preview(good, "application/pdf")


_PEAK = """
import resource, sys
from pathlib import Path
from focushub.files import previews
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
previews.make_preview(Path(sys.argv[1]), "image/jpeg")
previews.strip_image(Path(sys.argv[1]), "image/jpeg", 512)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_a_large_photo_is_made_small_before_it_is_decoded_whole(tmp_path: Path):
    """A photo of 64 megapixels (a few hundred KB uploaded) is 192 MB decoded, twice that
    when turned by its orientation first: its preview and its re-encoding (avatars, chat
    photos, in the request) decode it at the scale they need instead."""
    import subprocess
    import sys

    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (8000, 8000), "olive").save(photo, "JPEG", quality=30)
    done = subprocess.run([sys.executable, "-c", _PEAK, str(photo)], capture_output=True,
                          check=True, timeout=120)
    grown_kib = int(done.stdout)
    assert grown_kib < 64 * 1024, f"{grown_kib // 1024} MiB more at the peak"


def test_previews_and_re_encodings_keep_the_photo_s_orientation(tmp_path: Path):
    photo = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90° clockwise to show
    Image.new("RGB", (640, 480), "navy").save(photo, "JPEG", exif=exif)
    preview = previews.make_preview(photo, "image/jpeg")
    with Image.open(io.BytesIO(preview.image)) as shown:
        assert shown.size == (360, 480) and not shown.getexif()
    with Image.open(io.BytesIO(previews.strip_image(photo, "image/jpeg", 128))) as shown:
        assert shown.size == (96, 128) and not shown.getexif()
