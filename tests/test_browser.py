"""The agent view and the supervisor wall in a real headless browser.

Python Playwright drives Debian's ``chromium`` (never a downloaded browser) against a real
``voicemon serve`` process on a free port, while a real WebSocket client streams the escalating
fixture into it like a live call. Skips with one reason when chromium or Playwright is missing
(``make test`` installs both).
"""

from __future__ import annotations

import asyncio
import collections
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

    def __init__(self, out_dir: Path, port: int = 0, extra: list[str] | None = None) -> None:
        self.out_dir = out_dir
        self.port = port
        self.extra = list(extra or [])
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicemon", "serve", "--port", str(self.port), "--out", str(self.out_dir), *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if "serving on ws://" not in line:
            self.proc.kill()
            raise AssertionError(f"server did not start: {line}{self.proc.stderr.read()}")
        self.port = int(line.split("ws://", 1)[1].split()[0].rsplit(":", 1)[1])
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self.log = collections.deque(maxlen=50)
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()

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
    page.screenshot(path=str(path))  # the viewport: what the user sees without scrolling
    keep = os.environ.get("VOICEMON_SCREENSHOTS_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / name)
    return path


TOKEN = "view-t0ken"
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 400, "height": 800}


LOOKAHEAD_S = 1.0
"""How far the streamer may run ahead of the media time the server has reached (flow control: on a
loaded machine the server never holds a backlog of audio, so a pause stops media time at once)."""


class ControlledStreamer(threading.Thread):
    """Streams a call into /ingest in live mode; the test can pause it (media time stands still, so
    no prompt expires while it looks) and finish it early (it then sends ``end``). ``progress`` is
    the media time the server has reached (set by a :class:`PromptPauser`)."""

    def __init__(self, url, call_id, frames, rate, speed=4.0, token=TOKEN, **metadata) -> None:
        super().__init__(daemon=True)
        self.url, self.call_id, self.frames, self.rate, self.speed = url, call_id, frames, rate, speed
        self.token, self.metadata = token, metadata
        self.paused, self.finish = threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self.ended: dict | None = None
        self.progress = 0.0

    def run(self) -> None:
        from websockets.sync.client import connect

        try:
            # no keepalive pings: a paused stream on a loaded machine must not be dropped for a late pong
            with connect(f"{self.url}/ingest?token={self.token}", max_size=None, ping_interval=None) as ws:
                ws.send(json.dumps({"type": "start", "v": 1, "call_id": self.call_id, "encoding": "pcm_s16le",
                                    "sample_rate": self.rate, "channels": 2, "roles": ["agent", "customer"],
                                    "mode": "live", **self.metadata}))
                assert json.loads(ws.recv())["type"] == "started"
                due = time.monotonic()
                for i, frame in enumerate(self.frames):
                    while (self.paused.is_set() or self.progress < i * 0.1 - LOOKAHEAD_S) and not self.finish.is_set():
                        time.sleep(0.02)
                        due = max(due, time.monotonic() - 0.1 / self.speed)
                    if self.finish.is_set():
                        break
                    ws.send(frame)
                    due += 0.1 / self.speed
                    time.sleep(max(0.0, due - time.monotonic()))
                ws.send(json.dumps({"type": "end", "v": 1}))
                self.ended = json.loads(ws.recv())
        except BaseException as exc:  # reported by the test
            self.error = exc


class PromptPauser(threading.Thread):
    """Watches the call's prompts on /watch and pauses the streamer the moment one of ``kinds``
    fires (``"*"``: any), so that media time stands still with the prompt fresh on every view."""

    def __init__(self, server, call_id, streamer, kinds=("*",)) -> None:
        super().__init__(daemon=True)
        self.server, self.call_id, self.streamer = server, call_id, streamer
        self.kinds = set(kinds)
        self.fired: list[dict] = []

    def run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        try:
            with connect(f"{self.server.ws}/watch?token={TOKEN}", ping_interval=None) as ws:
                ws.send(json.dumps({"type": "subscribe", "v": 1, "calls": [self.call_id], "role": "supervisor",
                                    "types": ["prompt", "reading", "call_ended"]}))
                for message in ws:
                    env = json.loads(message)
                    if isinstance(env.get("t"), (int, float)):
                        self.streamer.progress = max(self.streamer.progress, env["t"])
                    if env["type"] == "call_ended":
                        return
                    if env["type"] == "prompt" and ("*" in self.kinds or env["kind"] in self.kinds):
                        self.streamer.paused.set()
                        self.fired.append(env)
        except ConnectionClosed:
            pass


class SilentCall:
    """A short synthetic call (digital silence: nothing to transcribe) that stays open until ended."""

    def __init__(self, server, call_id, **metadata) -> None:
        from websockets.sync.client import connect

        self._connection = connect(f"{server.ws}/ingest?token={TOKEN}", ping_interval=None)
        self.ws = self._connection.__enter__()
        self.ws.send(json.dumps({"type": "start", "v": 1, "call_id": call_id, "encoding": "pcm_s16le", "sample_rate": 16000,
                                 "channels": 2, "roles": ["agent", "customer"], "mode": "live", **metadata}))
        assert json.loads(self.ws.recv())["type"] == "started"
        for _ in range(10):
            self.ws.send(b"\0" * 6400)  # 0.1 s of stereo silence

    def close(self) -> None:
        """Close the connection, whatever state the server left it in."""
        try:
            self._connection.__exit__(None, None, None)
        except Exception:  # noqa: BLE001 — the server may have closed it already
            pass

    def end(self) -> dict:
        self.ws.send(json.dumps({"type": "end", "v": 1}))
        ended = json.loads(self.ws.recv())
        self._connection.__exit__(None, None, None)
        return ended


@pytest.fixture(scope="module")
def module_browser():
    sync_playwright = _playwright()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One `voicemon serve` (with a token; ended calls kept 8 s) for the views' tests."""
    root = tmp_path_factory.mktemp("views")
    conf = root / "voicemon.toml"
    conf.write_text("[server]\nkeep_ended_s = 8.0\n")
    server = Server(root / "calls", extra=["--token", TOKEN, "--config", str(conf)])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _open(browser, server, path, viewport=WIDE, scheme="light", token=TOKEN):
    page = browser.new_page(viewport=viewport, color_scheme=scheme)
    page.goto(server.http + path + (("&" if "?" in path else "?") + f"token={token}" if token else ""))
    return page


TRIGGER_VISIBLE = """needle => {
  const line = [...document.querySelectorAll('#lines .line')].find(l => l.textContent.toLowerCase().includes(needle));
  if (!line) return 'no line';
  const r = line.getBoundingClientRect();
  return r.top >= 0 && r.bottom <= window.innerHeight ? 'visible' : `off screen at ${r.top}-${r.bottom}`;
}"""
"""Whether the transcript line with ``needle`` is inside the viewport (no scrolling)."""

CONTRAST = """() => {
  const lum = (c) => {
    const [r, g, b] = c.match(/[0-9.]+/g).slice(0, 3).map(Number).map(v => v / 255)
      .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const section = document.querySelector('section.transcript');
  const probe = document.createElement('div');
  probe.className = 'line interim';
  probe.innerHTML = '<span class="text">tentative</span>';
  section.appendChild(probe);
  const fg = lum(getComputedStyle(probe.querySelector('.text')).color);
  const bg = lum(getComputedStyle(section).backgroundColor);
  probe.remove();
  return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
}"""
"""The contrast ratio of tentative transcript text on the transcript's background (WCAG)."""

TREND_CONSISTENT = """steady => {
  const m = document.getElementById('meter-caller');
  const t = Number(m.dataset.trend), word = document.querySelector('#caller-trend small').textContent;
  return [t, word, word === (t > steady ? 'rising' : t < -steady ? 'falling' : 'steady')];
}"""

FLASH_RECORDER = """() => {
  window.__flashed = [];
  new MutationObserver(ms => ms.forEach(m => {
    if (m.target.classList && m.target.classList.contains('flash')) window.__flashed.push(m.target.dataset.callId);
  })).observe(document.getElementById('tiles'), {attributes: true, subtree: true, attributeFilter: ['class']});
}"""


def _same_prompt(*pages, settle_s=2.0, timeout_s=30.0) -> str:
    """The prompt every page shows once it has not changed for ``settle_s``."""
    last, since, deadline = None, time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ids = {page.get_attribute("#prompt", "data-prompt-id") or "" for page in pages}
        now = ids.pop() if len(ids) == 1 else None
        if now != last:
            last, since = now, time.monotonic()
        elif now and time.monotonic() - since >= settle_s:
            return now
        time.sleep(0.2)
    raise AssertionError(f"the views do not agree on one prompt: {last!r}")


def _ack_over_socket(server, call_id, prompt_id, **subscribe):
    """Send one ack on a fresh watcher connection; returns the server's answer."""
    from websockets.sync.client import connect

    with connect(f"{server.ws}/watch?token={TOKEN}") as ws:
        ws.send(json.dumps({"type": "subscribe", "v": 1, "calls": [call_id], "types": ["prompt_ack"], **subscribe}))
        assert json.loads(ws.recv())["type"] == "subscribed"
        ws.send(json.dumps({"type": "ack", "v": 1, "call_id": call_id, "prompt_id": prompt_id}))
        return json.loads(ws.recv(timeout=10))


def test_agent_views_follow_an_escalating_call(module_browser, served, tmp_path):
    """The escalating fixture, live at 4x, watched by the agent's view at 1280x800 and 400x800 in
    light and dark, the generic view, a supervisor's view and the wall."""
    from voicemon.events import TREND_STEADY_PTS_PER_S

    browser, server = module_browser, served
    main = _open(browser, server, "/?agent=sarah")  # the agent's own view, 1280x800 light
    errors = _console_errors(main)
    main.wait_for_selector('body[data-state="waiting"]', timeout=15_000)
    assert not main.is_visible("#meter-caller")  # no green "calm" meter when there is no call
    _save(main, tmp_path, "agent_view_waiting.png")
    wide_dark = _open(browser, server, "/?agent=sarah", WIDE, "dark")
    narrow_dark = _open(browser, server, "/?agent=sarah", NARROW, "dark")
    wall = _open(browser, server, "/wall")
    wall_errors = _console_errors(wall)
    wall.evaluate(FLASH_RECORDER)

    rate, _, frames = int16_frames(ESCALATING)
    streamer = ControlledStreamer(server.ws, "esc-1", frames[:1050], rate, agent_id="sarah", agent_name="Sarah Kim",
                                  queue="billing")
    pauser = PromptPauser(server, "esc-1", streamer)
    pauser.start()
    streamer.start()
    try:
        generic = _open(browser, server, "/", NARROW, "light")  # no ?call=: finds the only live call
        generic.wait_for_function("() => document.getElementById('call-id').textContent === 'call esc-1'", timeout=30_000)
        assert "call=esc-1" in generic.url
        for page in (main, wide_dark, narrow_dark):
            page.wait_for_function("() => document.getElementById('call-id').textContent === 'call esc-1'", timeout=30_000)
        main.wait_for_selector("#conn.live", timeout=30_000)
        main.wait_for_function("() => document.getElementById('call-meta').textContent === 'Sarah Kim · billing'",
                               timeout=10_000)
        main.evaluate(LEVEL_RECORDER)
        wall.wait_for_selector('.tile[data-call-id="esc-1"]', timeout=30_000)
        wall.evaluate("() => { window.__tile = document.querySelector('.tile[data-call-id=\"esc-1\"]'); }")
        supervisor = _open(browser, server, "/?call=esc-1&view=supervisor")

        # The first prompt: stop the audio so it cannot expire while the keys are tried.
        main.wait_for_selector("#prompt:not([hidden])", timeout=150_000)
        assert pauser.fired and streamer.paused.is_set()
        try:
            first = _same_prompt(main, supervisor)  # words already sent may still bring a higher prompt
        except AssertionError as exc:
            fired = [(e["id"], e["kind"], e["t"], e["expires_at"]) for e in pauser.fired]
            raise AssertionError((str(exc), fired, streamer.error, streamer.ended, main.inner_text("#state-panel"),
                                  main.get_attribute("body", "data-state"), list(server.log)[-10:])) from None
        assert not supervisor.is_visible("#prompt-ack") and supervisor.is_visible("#view-badge")
        generic.wait_for_selector("#view-badge:not([hidden])", timeout=10_000)  # sarah's call: read-only here
        _save(supervisor, tmp_path, "supervisor_view.png")
        # ... and the server refuses a supervisor's ack, and another agent's
        answer = _ack_over_socket(server, "esc-1", first, role="supervisor")
        assert answer["code"] == "read_only", (answer, streamer.error, streamer.ended, list(server.log)[-10:])
        assert _ack_over_socket(server, "esc-1", first, agent_id="bob")["code"] == "not_your_call"
        # M4: Enter or Space with the focus elsewhere does nothing; Space on the card does nothing
        main.evaluate("() => document.activeElement && document.activeElement.blur()")
        main.keyboard.press("Enter")
        main.keyboard.press(" ")
        main.focus("#prompt")
        main.keyboard.press(" ")
        time.sleep(1.0)
        assert main.get_attribute("#prompt", "data-prompt-id") == first and main.is_visible("#prompt")
        main.keyboard.press("Enter")  # the card has the focus: done
        main.wait_for_function("id => document.getElementById('prompt').dataset.promptId !== id", arg=first, timeout=5_000)
        for page in (wide_dark, supervisor):  # every view hears of the ack
            page.wait_for_function("id => document.getElementById('prompt').dataset.promptId !== id", arg=first, timeout=5_000)
        main.evaluate("() => window.scrollTo(0, 0)")  # Space on the page (not the card) scrolled it, as browsers do
        pauser.kinds = {"no_hold"}
        streamer.paused.clear()

        # "Don't put them on hold": the line that triggered it is on screen in every view
        wide_dark.wait_for_selector('#prompt[data-kind="no_hold"]', timeout=150_000)
        assert streamer.paused.is_set()
        views = {"agent_view_prompt.png": main, "agent_view_prompt_dark.png": wide_dark,
                 "agent_view_400_dark.png": narrow_dark, "agent_view_400.png": generic}
        for name, page in views.items():
            page.wait_for_selector('#prompt[data-kind="no_hold"]', timeout=10_000)
            assert page.evaluate(TRIGGER_VISIBLE, "on hold") == "visible", name
            width = page.viewport_size["width"]
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width, name  # M1: no sideways scroll
            _save(page, tmp_path, name)
        assert "Don't put them on hold" in main.inner_text("#prompt-text")
        assert main.inner_text("#prompt-technique").strip() and main.inner_text("#prompt-reason").strip()
        assert main.get_attribute("#prompt", "class") == "prompt prio-urgent" and main.text_content("#prompt-prio") == "urgent"
        assert main.title().startswith("(!) ")
        for page in (main, wide_dark):
            assert page.evaluate(CONTRAST) >= 4.5
            t, word, consistent = page.evaluate(TREND_CONSISTENT, TREND_STEADY_PTS_PER_S)
            assert consistent, (t, word)
        assert main.get_attribute("#meter-caller", "role") == "meter"
        assert main.text_content("#announce").startswith(("Customer: ", "Your voice: "))  # polite, aria-live
        assert main.get_attribute("#meter-caller", "aria-valuetext").split(",")[0] in ("tense", "heated", "critical")
        assert main.locator("#lines mark.escalating").count() >= 1
        why = main.inner_text("#caller-why")
        assert "Voice" in why and "Words" in why, why
        seen = main.evaluate("() => window.__levelsSeen")
        assert {"heated", "critical"} & set(seen), seen
        tile = '.tile[data-call-id="esc-1"]'
        assert "Sarah Kim" in wall.inner_text(tile) and "peak" in wall.inner_text(tile)
        assert wall.evaluate("sel => window.__tile === document.querySelector(sel)", tile)  # updated in place
        _save(wall, tmp_path, "supervisor_wall.png")

        # The call ends while the prompt is up: every view clears it and says the call ended
        streamer.finish.set()
        streamer.join(60)
        assert streamer.error is None, streamer.error
        for page in (main, wide_dark, narrow_dark, generic, supervisor):
            page.wait_for_selector('body[data-state="ended"]', timeout=30_000)
            assert not page.is_visible("#prompt")
        assert "Waiting for your next call" in main.inner_text("#state-text")
        report_href = main.get_attribute("#state-report", "href")
        assert report_href.startswith("/reports/esc-1.html") and f"token={TOKEN}" in report_href
        _save(main, tmp_path, "agent_view_ended.png")
        _save(narrow_dark, tmp_path, "agent_view_ended_400_dark.png")
        wall.wait_for_selector(f'{tile}[data-ended="1"]', timeout=10_000)
        peak = streamer.ended["summary"]["peak_level"]
        assert wall.get_attribute(tile, "data-level") == peak and f"peak {peak}" in wall.inner_text(tile)
        assert wall.get_attribute(tile, "href").startswith("/reports/esc-1.html")
        if peak == "critical":
            assert "esc-1" in wall.evaluate("() => window.__flashed")
        res = main.goto(server.http + report_href)  # H6: the report over HTTP
        assert res.status == 200 and "esc-1" in main.content()

        log = [json.loads(x) for x in (server.out_dir / "esc-1.events.jsonl").read_text().splitlines()]
        acks = [e for e in log if e["type"] == "prompt_ack"]
        assert [(a["prompt_id"], a["action"], a["by"]) for a in acks] == [
            (first, "acknowledged", {"role": "agent", "agent_id": "sarah"})]
        report = json.loads((server.out_dir / "esc-1.json").read_text())
        assert report["metadata"]["agent_name"] == "Sarah Kim"
        assert [a["prompt_id"] for a in report["acknowledgements"]] == [first]
        assert report["stats"]["per_role"]["customer"]["peak_level"] in ("heated", "critical")
        assert errors == [] and wall_errors == [], errors + wall_errors
    finally:
        streamer.finish.set()
        streamer.join(30)


def test_agent_view_follows_its_own_calls_and_says_what_is_wrong(module_browser, served, tmp_path):
    """/?agent=amy follows amy's second call and ignores bob's; no call, an unknown call, a call
    that is over and a wrong token each have their own state."""
    browser, server = module_browser, served
    amy_view = _open(browser, server, "/?agent=amy", NARROW, "dark")
    errors = _console_errors(amy_view)
    amy_view.wait_for_selector('body[data-state="waiting"]', timeout=15_000)
    first = SilentCall(server, "amy-1", agent_id="amy", agent_name="Amy")
    amy_view.wait_for_function("() => document.getElementById('call-id').textContent === 'call amy-1'", timeout=15_000)
    amy_view.wait_for_selector('body[data-state="live"]', timeout=15_000)
    bob = SilentCall(server, "bob-1", agent_id="bob")
    time.sleep(2.5)  # more than one poll of the agent's calls
    assert amy_view.inner_text("#call-id") == "call amy-1"
    first.end()
    amy_view.wait_for_selector('body[data-state="ended"]', timeout=15_000)
    second = SilentCall(server, "amy-2", agent_id="amy", agent_name="Amy")
    amy_view.wait_for_function("() => document.getElementById('call-id').textContent === 'call amy-2'", timeout=15_000)
    amy_view.wait_for_selector('body[data-state="live"]', timeout=15_000)
    assert not amy_view.is_visible("#state-panel")

    unknown = _open(browser, server, "/?call=no-such-call")
    unknown.wait_for_selector('body[data-state="unknown"]', timeout=15_000)
    assert not unknown.is_visible("#meter-caller")
    _save(unknown, tmp_path, "agent_view_unknown.png")

    wrong = _open(browser, server, "/?call=amy-2", token="wrong")
    wrong.wait_for_selector('body[data-state="unauthorized"]', timeout=15_000)
    requests: list[str] = []
    wrong.on("request", lambda r: requests.append(r.url) if "/api/calls" in r.url else None)
    time.sleep(3.0)
    assert requests == []  # a 401 is not retried
    _save(wrong, tmp_path, "agent_view_unauthorized.png")
    wall = _open(browser, server, "/wall", token="wrong")
    wall.wait_for_selector('body[data-state="unauthorized"]', timeout=15_000)

    # amy-1 ended more than keep_ended_s (8 s) ago by now, or soon: the view says it is over
    over = _open(browser, server, "/?call=amy-1")
    over.wait_for_selector('body[data-state="expired"], body[data-state="ended"]', timeout=15_000)
    if over.get_attribute("body", "data-state") == "ended":  # still kept: wait until it is history
        time.sleep(8.0)
        over.reload()
        over.wait_for_selector('body[data-state="expired"]', timeout=15_000)
    assert over.get_attribute("#state-report", "href").startswith("/reports/amy-1.html")
    _save(over, tmp_path, "agent_view_expired.png")
    assert errors == [], errors

    # voicemon stopped (SIGTERM) mid-call: it finishes the call, and the agent's view says so
    server.stop()
    amy_view.wait_for_selector('body[data-state="ended"]', timeout=30_000)
    assert "voicemon was stopped" in amy_view.inner_text("#state-title")
    for call in (second, bob):
        call.close()


def test_view_reconnects_after_a_server_restart_without_duplicate_lines(module_browser, tmp_path):
    browser = module_browser
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
