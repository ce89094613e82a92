"""Batch triage end to end (issue 14 H7, L6, M5): one real ``voicemon analyze`` over a folder of two
short calls, then its index page and a report in a real headless browser.

The CLI run writes ``index.html`` and ``summary.csv`` (with the review columns) and ends with a
worst-first summary; Python Playwright drives Debian's ``chromium`` (as tests/test_browser.py)
over the files at 1280×800 and 400×800, light and dark: the index ranks the batch and its
filters and search work; a report's audio player seeks when a transcript line is clicked; the
print stylesheet keeps the whole transcript. Viewport-sized screenshots go to
``$VOICEMON_SCREENSHOTS_DIR`` when set (docs/screenshots/ was made that way).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT
from voicemon.report.summary import SUMMARY_COLUMNS, rank_rows

CALLS = ("angry_from_start_call.wav", "not_angry_call.wav")
VIEWPORTS = [(1280, 800), (400, 800)]
SCHEMES = ["light", "dark"]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """``voicemon analyze calls/ --out out --format json,html,csv``, then a second run into the
    same folder (one unreadable file, ``--format csv``) that must keep the first run's rows."""
    root = tmp_path_factory.mktemp("triage")
    calls = root / "calls"
    calls.mkdir()
    for name in CALLS:
        shutil.copy(FIXTURES / name, calls / name)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba")}
    out = root / "out"
    run = subprocess.run([sys.executable, "-m", "voicemon", "analyze", str(calls), "--out", str(out),
                          "--format", "json,html,csv", "-q"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader((out / "summary.csv").open(encoding="utf-8")))
    index_before = (out / "index.html").read_text(encoding="utf-8")
    (root / "later").mkdir()
    (root / "later" / "broken.wav").write_bytes(b"RIFF....WAVEfmt not really")
    second = subprocess.run([sys.executable, "-m", "voicemon", "analyze", str(root / "later"), "--out", str(out),
                             "--format", "csv", "-q"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    return {"root": root, "out": out, "run": run, "rows": rows, "second": second, "index_before": index_before}


def test_analyze_writes_the_index_the_summary_columns_and_a_worst_first_summary(batch):
    out, run, rows = batch["out"], batch["run"], batch["rows"]
    assert (out / "index.html").is_file()
    assert not list(out.glob("*.events.jsonl"))  # not asked for: not written
    assert sorted(p.name for p in out.glob("*.html")) == sorted(["index.html", *(f"{Path(n).stem}.html" for n in CALLS)])
    assert sorted(Path(r["file"]).name for r in rows) == sorted(CALLS)
    for r in rows:
        assert r["status"] == "ok" and r["needs_review"] in ("yes", "no")
        assert r["agent_heated_or_above_s"] != "" and r["agent_above_caller"] in ("yes", "no")
        assert int(r["cues_escalating"]) >= 0
        assert int(r["prompts_fired"]) == sum(int(x.rsplit(":", 1)[1]) for x in r["prompt_counts"].split())
    angry = next(r for r in rows if CALLS[0] in r["file"])
    assert angry["needs_review"] == "yes" and angry["caller_peak_level"] in ("heated", "critical")
    # The terminal ends with the batch, worst first, then where the index and CSV are.
    lines = run.stdout.strip().splitlines()
    head = next(i for i, line in enumerate(lines) if re.match(r"2 calls, \d needs? review", line))
    ranked = [Path(r["file"]).name for r in rank_rows(rows)]
    assert [next(n for n in ranked if n in line) for line in lines[head + 1:head + 3]] == ranked
    assert lines[-2] == f"index: {out / 'index.html'}" and lines[-1] == f"summary: {out / 'summary.csv'}"
    # The second run (csv only, one unreadable file) kept the first run's rows and wrote nothing else.
    second = batch["second"]
    assert second.returncode == 1 and "broken.wav" in second.stderr
    with (out / "summary.csv").open(encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == list(SUMMARY_COLUMNS)
    after = list(csv.DictReader((out / "summary.csv").open(encoding="utf-8")))
    assert [r["file"] for r in after[:2]] == [r["file"] for r in rows] and after[2]["status"] == "error"
    assert after[2]["needs_review"] == "yes" and not list(out.glob("broken*"))
    assert (out / "index.html").read_text(encoding="utf-8") == batch["index_before"]  # --format csv: no index


def _playwright():
    from test_browser import CHROMIUM, CHROMIUM_ARGS, _playwright as find

    return find(), CHROMIUM, CHROMIUM_ARGS


def _shot(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path))  # the viewport: what the user sees without scrolling
    keep = os.environ.get("VOICEMON_SCREENSHOTS_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / name)


def _visible_files(page) -> list[str]:
    return page.eval_on_selector_all("#vm-rows tr.call:not([hidden])", "els => els.map(e => e.dataset.file)")


def _unique_word(batch) -> tuple[str, str]:
    """A word said in exactly one call of the batch, and that call's file."""
    texts = {}
    for r in batch["rows"]:
        report = json.loads(Path(r["report_json"]).read_text())
        texts[r["file"]] = " ".join(s["text"] for s in report["transcript"]).lower()
    for file, text in texts.items():
        for word in sorted(set(re.findall(r"[a-z]{6,}", text))):
            if all(word not in other for f, other in texts.items() if f != file):
                return word, file
    pytest.skip("no word is unique to one call")


@pytest.fixture(scope="module")
def browser():
    sync_playwright, chromium, args = _playwright()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=args, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width,height", VIEWPORTS)
def test_index_ranks_filters_searches_and_the_report_audio_seeks(batch, browser, tmp_path, width, height, scheme):
    rows, out = batch["rows"], batch["out"]
    ranked = [r["file"] for r in rank_rows(rows)]
    word, word_file = _unique_word(batch)
    tag = f"{width}_{scheme}"
    page = browser.new_page(viewport={"width": width, "height": height}, color_scheme=scheme)
    try:
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto((out / "index.html").as_uri())
        assert _visible_files(page) == ranked  # worst first
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll
        _shot(page, tmp_path, f"batch_index_{tag}.png")
        # Filters: caller heated or higher; prompts fired; needs review.
        page.select_option("#vm-level", "2")
        assert _visible_files(page) == [r["file"] for r in rank_rows(rows)
                                        if r["caller_peak_level"] in ("heated", "critical")]
        page.select_option("#vm-level", "0")
        page.select_option("#vm-prompts", "none")
        assert _visible_files(page) == [f for f in ranked if next(r for r in rows if r["file"] == f)["prompts_fired"] == "0"]
        page.select_option("#vm-prompts", "any")
        page.check("#vm-review")
        assert _visible_files(page) == [f for f in ranked if next(r for r in rows if r["file"] == f)["needs_review"] == "yes"]
        page.uncheck("#vm-review")
        page.select_option("#vm-errors", "with")
        assert _visible_files(page) == [] and page.is_visible("#vm-none")
        page.select_option("#vm-errors", "all")
        # Search in the transcripts: only the call that said the word, with the line linked.
        page.fill("#vm-q", word)
        assert _visible_files(page) == [word_file]
        hit = page.locator("#vm-rows tr.call:not([hidden]) .snip a").first
        assert word in hit.inner_text().lower() and hit.locator("mark").count() == 1
        if width >= 1000:
            _shot(page, tmp_path, f"batch_index_search_{tag}.png")
        with page.expect_navigation():
            hit.click()
        assert re.search(r"\.html#seg-\d+$", page.url), page.url
        # The report: the audio player seeks to a transcript line on a click.
        page.wait_for_function("() => document.getElementById('vm-audio').readyState >= 1", timeout=20_000)
        seg = page.locator("#vm-transcript .seg").nth(3)
        start = float(seg.get_attribute("data-start"))
        seg.click()
        now = page.evaluate("document.getElementById('vm-audio').currentTime")
        assert abs(now - start) < 1.5, (now, start)
        assert "playing" in (seg.get_attribute("class") or "")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.evaluate("document.getElementById('vm-player').scrollIntoView({block: 'start'})")
        _shot(page, tmp_path, f"report_audio_{tag}.png")
        if width == 1280 and scheme == "light":  # printing keeps the whole transcript
            page.emulate_media(media="print")
            box = page.evaluate("""() => { const b = document.getElementById('vm-transcript'), s = getComputedStyle(b);
                return [s.overflowY, s.maxHeight, b.scrollHeight - b.clientHeight]; }""")
            assert box[0] == "visible" and box[1] == "none" and box[2] <= 1, box
        assert errors == [], errors
    finally:
        page.close()
