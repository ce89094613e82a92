"""The agent view and the supervisor wall in a real headless browser.

Python Playwright drives Debian's ``chromium`` (never a downloaded browser) against a real
``voicemon serve`` process on a free port, while a real WebSocket client streams the escalating
fixture into it like a live call. Skips with one reason when chromium or Playwright is missing
(``make test`` installs both).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from server_helpers import ESCALATING, int16_frames

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
SPEED = 2.0
"""Times faster than real time the fixture is streamed (live mode; the server allows up to 8)."""


def _playwright():
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; make test does this when run as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Python playwright is not installed (pip install -e .[test])")
    return sync_playwright


class Server:
    """A ``voicemon serve`` subprocess; ``port`` is kept across restarts."""

    def __init__(self, out_dir: Path, port: int = 0) -> None:
        self.out_dir = out_dir
        self.port = port
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicemon", "serve", "--port", str(self.port), "--out", str(self.out_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if "serving on ws://" not in line:
            self.proc.kill()
            raise AssertionError(f"server did not start: {line}{self.proc.stderr.read()}")
        self.port = int(line.split("ws://", 1)[1].split()[0].rsplit(":", 1)[1])
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def _stream(url: str, call_id: str, frames: list[bytes], rate: int, speed: float, end: bool) -> None:
    from websockets.asyncio.client import connect

    async with connect(url + "/ingest", max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "v": 1, "call_id": call_id, "encoding": "pcm_s16le",
                                  "sample_rate": rate, "channels": 2, "roles": ["agent", "customer"], "mode": "live"}))
        assert json.loads(await ws.recv())["type"] == "started"
        t0 = time.monotonic()
        for i, frame in enumerate(frames):
            await ws.send(frame)
            await asyncio.sleep(max(0.0, t0 + (i + 1) * 0.1 / speed - time.monotonic()))
        if end:
            await ws.send(json.dumps({"type": "end", "v": 1}))
            assert json.loads(await ws.recv())["type"] == "ended"
        else:  # keep the call open until the server goes away
            await ws.wait_closed()


class Streamer(threading.Thread):
    """Streams frames into /ingest on its own thread; ``error`` holds what went wrong."""

    def __init__(self, url, call_id, frames, rate, speed=SPEED, end=True) -> None:
        super().__init__(daemon=True)
        self.args = (url, call_id, frames, rate, speed, end)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(_stream(*self.args))
        except BaseException as exc:  # reported by the test
            self.error = exc


@pytest.fixture
def browser():
    sync_playwright = _playwright()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


LEVEL_RECORDER = """() => {
  window.__levelsSeen = [];
  const meter = document.getElementById('meter-caller');
  const note = () => {
    const word = document.getElementById('caller-level').textContent;
    if (meter.className.includes('level-' + word) && !window.__levelsSeen.includes(word)) window.__levelsSeen.push(word);
  };
  new MutationObserver(note).observe(meter, {attributes: true, subtree: true, childList: true, characterData: true});
  note();
}"""
"""Records every level the caller's meter showed, as both its colour class and its word."""


def _console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    return errors


def _save(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    keep = os.environ.get("VOICEMON_SCREENSHOTS_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / name)
    return path


def test_agent_view_and_wall_follow_an_escalating_call(browser, tmp_path):
    server = Server(tmp_path / "calls")
    server.start()
    try:
        rate, _, frames = int16_frames(ESCALATING)
        streamer = Streamer(server.ws, "esc-1", frames, rate)
        streamer.start()
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors = _console_errors(page)
        wall = browser.new_page(viewport={"width": 1200, "height": 500})
        wall_errors = _console_errors(wall)
        # No ?call=: the view finds the only live call by itself.
        page.goto(server.http + "/")
        page.wait_for_function("() => document.getElementById('call-id').textContent === 'call esc-1'", timeout=30_000)
        page.wait_for_selector("#conn.live", timeout=30_000)
        assert "call=esc-1" in page.url
        page.evaluate(LEVEL_RECORDER)
        wall.goto(server.http + "/wall")
        wall.wait_for_selector('.tile[data-call-id="esc-1"]', timeout=30_000)

        # The "don't put them on hold" card appears (the agent offers to hold an upset caller) ...
        card = page.locator('#prompt[data-kind="no_hold"]')
        card.wait_for(state="visible", timeout=120_000)
        assert "Don't put them on hold" in page.inner_text("#prompt-text")
        assert page.inner_text("#prompt-technique").strip()
        assert page.inner_text("#prompt-reason").strip()
        no_hold_id = card.get_attribute("data-prompt-id")
        _save(page, tmp_path, "agent_view_prompt.png")
        # ... and goes away when the agent acknowledges it.
        page.click("#prompt-ack")
        page.wait_for_function(
            "id => document.getElementById('prompt').hidden || document.getElementById('prompt').dataset.promptId !== id",
            arg=no_hold_id, timeout=5_000)

        # The customer's meter reached heated or critical (colour class and word) ...
        seen = page.evaluate("() => window.__levelsSeen")
        assert {"heated", "critical"} & set(seen), seen
        # ... and says why, split into the voice and the words, with human labels.
        why = page.inner_text("#caller-why")
        assert "Voice" in why and "Words" in why, why
        wall.wait_for_selector('.tile[data-call-id="esc-1"]')
        _save(wall, tmp_path, "supervisor_wall.png")
        wall_level = wall.get_attribute('.tile[data-call-id="esc-1"]', "data-level")

        # Transcript lines, cue words highlighted.
        lines = page.locator("#lines .line")
        assert lines.count() >= 5
        assert page.locator("#lines mark").count() >= 1

        streamer.join(120)
        assert streamer.error is None, streamer.error
        page.wait_for_selector("#conn.ended", timeout=60_000)
        wall.wait_for_selector('.tile.ended[data-call-id="esc-1"]', timeout=10_000)
        _save(page, tmp_path, "agent_view_ended.png")

        log = [json.loads(x) for x in (tmp_path / "calls" / "esc-1.events.jsonl").read_text().splitlines()]
        acks = [e for e in log if e["type"] == "prompt_ack"]
        assert [(a["prompt_id"], a["action"]) for a in acks if a["prompt_id"] == no_hold_id] == [(no_hold_id, "acknowledged")]
        report = json.loads((tmp_path / "calls" / "esc-1.json").read_text())
        assert any(a["prompt_id"] == no_hold_id for a in report["acknowledgements"])
        peak = report["stats"]["per_role"]["customer"]["peak_level"]
        assert peak in ("heated", "critical")
        assert wall_level in ("calm", "tense", "heated", "critical")
        assert errors == [] and wall_errors == [], errors + wall_errors
    finally:
        server.stop()


def test_view_reconnects_after_a_server_restart_without_duplicate_lines(browser, tmp_path):
    server = Server(tmp_path / "calls")
    server.start()
    try:
        rate, _, frames = int16_frames(ESCALATING)
        first, second = frames[:300], frames[300:600]  # 0-30 s, then 30-60 s after the restart
        streamer = Streamer(server.ws, "esc-2", first, rate, speed=4.0, end=False)
        streamer.start()
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"{server.http}/?call=esc-2")
        page.wait_for_selector("#conn.live", timeout=30_000)
        page.wait_for_function("() => document.querySelectorAll('#lines .line:not(.interim)').length >= 3", timeout=60_000)
        time.sleep(300 * 0.1 / 4.0 + 1)  # the first part has been sent
        before = page.eval_on_selector_all("#lines .line:not(.interim)", "els => els.map(e => e.dataset.key)")

        server.kill()
        streamer.join(10)
        page.wait_for_selector("#conn.reconnecting", timeout=10_000)
        _save(page, tmp_path, "agent_view_reconnecting.png")
        server.start()  # same port
        streamer = Streamer(server.ws, "esc-2", second, rate, speed=4.0, end=True)
        streamer.start()
        page.wait_for_selector("#conn.live", timeout=30_000)
        streamer.join(60)
        assert streamer.error is None, streamer.error
        page.wait_for_selector("#conn.ended", timeout=60_000)
        after = page.eval_on_selector_all("#lines .line", "els => els.map(e => e.dataset.key)")
        texts = page.eval_on_selector_all("#lines .line .text", "els => els.map(e => e.textContent)")
        assert len(after) == len(set(after)), after
        assert len(texts) == len(set(texts)), texts
        assert set(before[-3:]) <= set(after), (before, after)
        assert any(k.startswith("1:") for k in after), after  # lines of the call after the restart
        assert page.locator(".divider").count() == 1
        _save(page, tmp_path, "agent_view_resumed.png")
    finally:
        server.stop()
