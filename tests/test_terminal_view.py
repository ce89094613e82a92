"""The terminal view (issue 14 H5, L1): pure, on hand-made events."""

from __future__ import annotations

import io
import json
import re

from voicemon.events import CallEnded, CoachingPrompt, Cue, Envelope, EscalationReading, TranscriptUpdate
from voicemon.live.terminal_view import DOWN, UP, TerminalView

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    return ANSI.sub("", text)


def _final(start: float, role: str, text: str, t: float) -> Envelope:
    return _env(TranscriptUpdate(t=t, role=role, utterance_id=f"{role}-{start}", start=start, end=start + 2, text=text))


def _env(event) -> Envelope:
    """What the view gets as a call sink."""
    return Envelope.of(event, "c1", 1, 0.0)


def _reading(t: float, score: float, level: str) -> Envelope:
    return _env(EscalationReading(t=t, role="customer", score=score, level=level, changed=False))


def _view(**kw) -> tuple[TerminalView, io.StringIO]:
    out = io.StringIO()
    return TerminalView("c1", ("agent", "customer"), out=out, fps=1000, **kw), out


def test_lines_are_in_media_time_order_not_arrival_order():
    view, _ = _view(lines=3)
    # The agent's short line is transcribed first although the customer spoke earlier.
    for env in (_final(10.0, "agent", "Let me check that.", 12.0), _final(4.0, "customer", "I was charged twice.", 13.0),
                _final(1.0, "agent", "Hello.", 13.5), _final(14.0, "customer", "Okay.", 16.0)):
        view(env)
    lines = [line for line in plain(view.render()).splitlines() if re.match(r"\d\d:\d\d ", line)]
    assert [line[:5] for line in lines] == ["00:04", "00:10", "00:14"]  # the 3 latest by media time


def test_long_lines_wrap_at_word_boundaries_and_cues_are_highlighted(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    view, _ = _view()
    text = ("This is the third time I am calling about the same double charge and I already told you "
            "my account number twice, this is completely unacceptable")
    view(_env(Cue(t=5.0, role="customer", kind="repetition", weight=0.9, evidence="already told you", source="text",
                  target="customer")))
    view(_env(Cue(t=9.0, role="agent", kind="apology", weight=-0.6, evidence="i am sorry", source="text",
                  target="customer")))
    view(_final(3.0, "customer", text, 9.0))
    view(_final(9.0, "agent", "I am sorry, let me fix it.", 11.0))
    screen = view.render()
    body = [plain(x) for x in screen.splitlines() if "00:03" in plain(x) or plain(x).startswith(" " * 16)]
    assert len(body) >= 3 and all(len(x) <= 60 for x in body)
    words = " ".join(x[16:].strip() for x in body).split()
    assert words == text.split()  # every word whole, none cut
    assert UP + "already told you" in screen or UP + "already" in screen
    assert DOWN + "I am sorry" in screen


def test_the_header_survives_redraws_and_keys_act_on_the_prompt_on_screen():
    url = "agent view: http://127.0.0.1:8765/?call=c1   wall: http://127.0.0.1:8765/wall"
    view, out = _view(header=[url], keys=True)
    view(_reading(1.0, 70.0, "heated"))
    assert view.key("a") is None  # no prompt yet
    view(_env(CoachingPrompt(t=2.0, id="p1", kind="acknowledge", text="Acknowledge the feeling",
                             technique="Acknowledge the emotion", priority=60, reason="caller went heated",
                             expires_at=14.0)))
    view.draw(force=True)
    frames = out.getvalue().split("\x1b[H\x1b[2J")[1:]
    assert len(frames) >= 2 and all(plain(f).startswith(url) for f in frames)
    assert "[a] done" in plain(frames[-1])
    assert view.key("x") is None
    assert view.key("a") == ("p1", "acknowledged") and view.key("D") == ("p1", "dismissed")
    view(_reading(15.0, 50.0, "tense"))
    assert view.key("a") is None  # expired
    view(_env(CoachingPrompt(t=16.0, id="p2", kind="thank", text="Thank them", technique="t", priority=40, reason="r",
                             expires_at=26.0)))
    view(_env(CallEnded(t=17.0)))
    assert view.key("a") is None and "(no prompt)" in plain(view.render()) and "(ended)" in plain(view.render())


def test_replay_serve_keeps_its_url_on_screen_and_a_key_acks_the_prompt(tmp_path):
    """H5 + L1 in a real terminal: ``replay --serve`` in a pty shows the agent view's URL on every
    frame (the view used to wipe it), and pressing ``a`` while a prompt is up acknowledges it (the
    ack is in the call's event log)."""
    import os
    import pty
    import select
    import signal
    import subprocess
    import sys
    import time

    import soundfile as sf

    from conftest import FIXTURES, ROOT

    import numpy as np

    data, rate = sf.read(FIXTURES / "angry_from_start_call.wav", dtype="int16")
    clip = tmp_path / "angry.wav"  # 12 s of quiet line after the call, so a prompt is up while it still runs
    tail = (np.random.default_rng(0).standard_normal((12 * rate, data.shape[1])) * 8).astype(np.int16)
    sf.write(clip, np.concatenate([data, tail]), rate, subtype="PCM_16")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ROOT / ".cache" / "numba"), "COLUMNS": "110", "LINES": "40"}
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "voicemon", "replay", str(clip), "--speed", "2", "--serve",
                             "--port", "0", "--report", str(tmp_path / "rep")],
                            stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, start_new_session=True)
    os.close(slave)
    screen, acked, deadline, sent_at = b"", False, time.monotonic() + 240, 0
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                screen += chunk
            text = plain(screen.decode("utf-8", "replace"))
            if not acked and "[a] done" in text[-2500:]:  # a prompt is on the latest frame
                os.write(master, b"a")
                acked, sent_at = True, len(screen)
            if "the call has ended" in text:
                break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        finally:
            os.close(master)
    raw = screen.decode("utf-8", "replace")
    frames = [plain(f) for f in raw.split("\x1b[H\x1b[2J")[1:]]
    assert frames, plain(raw)[-2000:]
    assert all(f.startswith("agent view: http://127.0.0.1:") for f in frames), frames[-1][:300]
    assert acked, frames[-1]
    log = [json.loads(line) for line in (tmp_path / "rep" / "angry.events.jsonl").read_text().splitlines()]
    acks = [e for e in log if e["type"] == "prompt_ack"]
    assert acks and acks[0]["action"] == "acknowledged", plain(raw[sent_at - 200:sent_at + 3000])
    assert acks[0]["prompt_id"] in {e["id"] for e in log if e["type"] == "prompt"}
