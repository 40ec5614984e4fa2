"""The headless-Chromium check itself (tests/browser/chromium.py) catches what it must: a page that throws, writes
a console error, calls alert() or loads something from outside fails it; a clean page passes. Then the evidence
report of a hand-built report, with a <script> in what came from outside, loads clean: nothing ran.

Skipped only when Chromium is absent outside CI (`chromium.require`); in CI it must be there (`make browser`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.reporting.html import render_html
from tests.browser import chromium
from tests.unit.reporting.test_html import HOSTILE, report


@pytest.fixture(autouse=True)
def _chromium() -> None:
    chromium.require()


def _page(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "page.html"
    path.write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>", encoding="utf-8")
    return path


def test_a_clean_page_loads_without_errors_or_requests(tmp_path: Path) -> None:
    # GIVEN a page with text and an inline script that does nothing wrong
    page = _page(tmp_path, "<p>all good</p><script>document.title = 'done';</script>")
    # WHEN loaded
    loaded = chromium.load(page)
    # THEN no error, no request, its text, a PNG screenshot
    assert (loaded.errors, loaded.requests) == ([], [])
    assert loaded.text == "all good"
    assert loaded.screenshot.startswith(b"\x89PNG\r\n\x1a\n")


def test_a_page_that_throws_fails_the_check(tmp_path: Path) -> None:
    # GIVEN a deliberately broken page: its script throws
    page = _page(tmp_path, "<p>broken</p><script>undefinedFunction();</script>")
    # WHEN loaded
    loaded = chromium.load(page)
    # THEN the exception is reported
    assert len(loaded.exceptions) == 1
    assert "ReferenceError: undefinedFunction is not defined" in loaded.exceptions[0]
    assert loaded.errors == loaded.exceptions


def test_console_errors_and_dialogs_fail_the_check(tmp_path: Path) -> None:
    # GIVEN a page that writes a console error, then calls alert() (what an injected script would do)
    page = _page(tmp_path, "<script>console.error('bad', 42); alert('xss');</script>")
    # WHEN loaded
    loaded = chromium.load(page)
    # THEN both are console errors
    assert loaded.console_errors == ["bad 42", "alert() called: xss"]
    assert loaded.exceptions == []


def test_a_page_that_loads_something_from_outside_is_seen(tmp_path: Path) -> None:
    # GIVEN a page with an image on a server that does not answer (port 9, discard)
    page = _page(tmp_path, '<img src="http://127.0.0.1:9/x.png" alt="">')
    # WHEN loaded
    loaded = chromium.load(page)
    # THEN the request is listed, and its failure is an error the browser logged
    assert loaded.requests == ["http://127.0.0.1:9/x.png"]
    assert any("127.0.0.1:9/x.png" in error for error in loaded.log_errors), loaded.log_errors


def test_the_evidence_report_with_hostile_text_loads_clean_and_prints(tmp_path: Path) -> None:
    # GIVEN the evidence report of a report whose script output and approver's comment hold a script element
    # that calls alert
    data = report()
    data["waves"][0]["scripts"][0]["instances"][0]["output"] = HOSTILE
    data["waves"][1]["approval"]["comment"] = HOSTILE
    page = tmp_path / "evidence.html"
    page.write_text(render_html(data), encoding="utf-8")

    # WHEN loaded in Chromium, and printed to PDF
    loaded = chromium.load(page, pdf=True)

    # THEN no error (nothing ran: an alert() would be one), nothing loaded from outside; the text is shown as text
    assert (loaded.errors, loaded.requests) == ([], [])
    assert "<script>alert(document.domain)</script>" in loaded.text
    assert loaded.pdf.startswith(b"%PDF-")
