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
