"""A one-screen live view of a call for a terminal: meters, the current prompt, the transcript.

The view is an event sink: it keeps what it needs of the events (dataclasses) of the envelopes it
is given and redraws at most ``fps`` times a second (ANSI escapes; colours per level, which also
shows as a word).
"""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
import time
from typing import Iterable, TextIO

from voicemon.events import TREND_STEADY_PTS_PER_S as STEADY
from voicemon.events import (
    AsrStatus,
    CallEnded,
    CoachingPrompt,
    Cue,
    Envelope,
    EscalationReading,
    Event,
    ProsodyFrame,
    PromptAcknowledged,
    SpeakersChanged,
    TranscriptUpdate,
)

LEVEL_COLOURS = {"calm": "\033[32m", "tense": "\033[33m", "heated": "\033[38;5;208m", "critical": "\033[31m"}
RESET = "\033[0m"
BOLD = "\033[1m"
DIM = "\033[2m"
ROLE_LABELS = {"customer": "Customer", "agent": "Agent (you)", "mixed": "Call"}
UP = "\033[1;38;5;208m"
"""Escalating cue phrases in the transcript (bold orange)."""
DOWN = "\033[1;36m"
"""De-escalating cue phrases (bold cyan)."""
ACK_KEYS = {"a": "acknowledged", "d": "dismissed"}
"""Keys that act on the prompt on screen: ``a`` = done, ``d`` = dismiss."""


class TerminalView:
    """Render a call's events as a live dashboard.

    Args:
        call_id: shown in the header.
        roles: the call's roles, caller first in the view.
        out: where to draw (a terminal).
        fps: most redraws per second.
        lines: transcript utterances shown (the latest by media time).
        header: lines kept at the top of every frame (e.g. the agent view's URL of
            ``replay --serve``, which a redraw must not wipe).
        keys: show the ack keys (:data:`ACK_KEYS`) under the prompt; the caller reads the
            keyboard and passes each key to :meth:`key`.
    """

    def __init__(self, call_id: str, roles: tuple[str, ...], out: TextIO | None = None, fps: float = 8.0,
                 lines: int = 6, header: list[str] | tuple[str, ...] = (), keys: bool = False) -> None:
        self.header = list(header)
        self.keys = keys
        self.cues: dict[str, list[Cue]] = {}
        self.ended = False
        self.call_id = call_id
        self.roles = tuple(sorted(roles, key=lambda r: r != "customer"))
        self.out = out or sys.stdout
        self.min_interval_s = 1.0 / fps
        self.max_lines = lines
        self.readings: dict[str, EscalationReading] = {}
        self.prompt: CoachingPrompt | None = None
        self.transcript: list[TranscriptUpdate] = []
        self.interim: dict[str, TranscriptUpdate] = {}
        self.status = ""
        self.media_s = 0.0
        self._last_draw = 0.0
        self._dirty = False

    def __call__(self, env: Envelope) -> None:
        """Take one event envelope (a call sink)."""
        self.take(env.event)

    def take(self, event: Event) -> None:
        """Take one event; redraw if it changes the screen."""
        self.media_s = max(self.media_s, float(event.t))
        if isinstance(event, EscalationReading):
            self.readings[event.role] = event
        elif isinstance(event, SpeakersChanged):  # a one-channel call split into agent and customer
            self.roles = tuple(sorted(event.roles, key=lambda r: r != "customer"))
            self.status = event.message
        elif isinstance(event, CoachingPrompt):
            self.prompt = event
        elif isinstance(event, PromptAcknowledged):
            if self.prompt is None or self.prompt.id != event.prompt_id:
                return
            self.prompt = None
        elif isinstance(event, TranscriptUpdate):
            if event.final:
                self.interim.pop(event.role, None)
                if event.text:
                    self.transcript.append(event)
                    self.transcript.sort(key=lambda e: (e.start, e.role))  # media time, not arrival
                    self.transcript = self.transcript[-self.max_lines:]
            else:
                self.interim[event.role] = event
        elif isinstance(event, Cue):
            if event.source == "text":
                mine = self.cues.setdefault(event.role, [])
                mine.append(event)
                del mine[:-40]
        elif isinstance(event, CallEnded):
            self.ended = True
            self.prompt = None
        elif isinstance(event, AsrStatus):
            self.status = "" if event.state == "ok" else event.message
        elif not isinstance(event, ProsodyFrame):
            return
        self._dirty = True
        self.draw()

    def draw(self, force: bool = False) -> None:
        """Redraw if something changed and the frame interval has passed."""
        now = time.monotonic()
        if not force and (not self._dirty or now - self._last_draw < self.min_interval_s):
            return
        self._last_draw = now
        self._dirty = False
        self.out.write("\033[H\033[2J" + self.render() + "\n")
        self.out.flush()

    def render(self) -> str:
        """The screen as text (with colour escapes)."""
        width = max(40, min(shutil.get_terminal_size((100, 30)).columns, 120))
        minutes, seconds = divmod(int(self.media_s), 60)
        rows = [*self.header, f"{BOLD}voicemon{RESET} — call {self.call_id}   {minutes:02d}:{seconds:02d}"
                + ("   (ended)" if self.ended else ""), ""]
        for role in self.roles:
            r = self.readings.get(role)
            label = ROLE_LABELS.get(role, role).ljust(12)
            if r is None:
                rows.append(f"{label} {'·' * 20} waiting")
                continue
            bar_width = max(10, width - 40)
            filled = int(round(bar_width * r.score / 100))
            colour = LEVEL_COLOURS.get(r.level, "")
            trend = "↑" if r.trend > STEADY else "↓" if r.trend < -STEADY else "→"
            bar = colour + "█" * filled + RESET + DIM + "░" * (bar_width - filled) + RESET
            rows.append(f"{label} {bar} {r.score:5.1f} {colour}{r.level.upper():<8}{RESET} {trend}")
            why = why_line(r.contributions or {})
            if why:
                rows.append(f"{' ' * 12} {DIM}{why}{RESET}")
        rows.append("")
        p = self.current_prompt()
        if p:
            rows.append(f"{BOLD}▶ {p.text}{RESET}")
            rows += [f"  {DIM}{x}{RESET}" for x in textwrap.wrap(f"{p.technique} — {p.reason}", width - 2,
                                                                break_on_hyphens=False)]
            if self.keys:
                rows.append(f"  {DIM}[a] done   [d] dismiss{RESET}")
        else:
            rows.append(f"{DIM}(no prompt){RESET}")
        rows.append("")
        lines = [(e, True) for e in self.transcript] + [(e, False) for e in self.interim.values()]
        for update, final in sorted(lines, key=lambda x: (x[0].start, not x[1], x[0].role)):
            rows += self._lines(update, final, width, self.cues.get(update.role, ()))
        if self.status:
            rows += ["", f"\033[33m{self.status}{RESET}"]
        rows += ["", f"{DIM}Ctrl-C ends the call and writes the report{RESET}"]
        return "\n".join(rows)

    def current_prompt(self) -> CoachingPrompt | None:
        """The prompt on screen: the last one, until it is acted on, expires or the call ends."""
        if self.prompt and not self.ended and self.prompt.expires_at >= self.media_s:
            return self.prompt
        return None

    def key(self, ch: str) -> tuple[str, str] | None:
        """A key press: ``(prompt_id, action)`` to send for the prompt on screen, or ``None``.

        ``a`` marks the prompt done (``acknowledged``), ``d`` dismisses it; other keys, or no
        prompt on screen, do nothing.
        """
        action = ACK_KEYS.get(ch.lower()) if ch else None
        p = self.current_prompt()
        if action is None or p is None:
            return None
        return p.id, action

    @staticmethod
    def _lines(update: TranscriptUpdate, final: bool, width: int, cues: Iterable[Cue] = ()) -> list[str]:
        """One utterance, wrapped at word boundaries under its time and speaker, cue phrases
        highlighted."""
        minutes, seconds = divmod(int(update.start), 60)
        who = ROLE_LABELS.get(update.role, update.role).split()[0]
        prefix = f"{minutes:02d}:{seconds:02d} {who:>8}: "
        text = update.text if final else update.text + " …"
        spans = cue_spans(text, cues) if final else []
        out, pos = [], 0
        for i, piece in enumerate(textwrap.wrap(text, max(10, width - len(prefix)), break_on_hyphens=False) or [""]):
            start = text.find(piece, pos)
            start = pos if start < 0 else start
            pos = start + len(piece)
            body = _paint(piece, start, spans)
            out.append((prefix if i == 0 else " " * len(prefix)) + body)
        return out if final else [DIM + line + RESET for line in out]


def cue_spans(text: str, cues: Iterable[Cue]) -> list[tuple[int, int, float]]:
    """``(start, end, weight)`` of each cue phrase found in ``text`` (case-insensitive, any
    punctuation between the words), non-overlapping."""
    spans: list[tuple[int, int, float]] = []
    for cue in cues:
        words = re.findall(r"[\w']+", cue.evidence.lower().replace("’", "'"))
        if not words:
            continue
        pat = re.compile(r"(?<![\w'’])" + r"[^\w'’]+".join(re.escape(w).replace("'", "['’]") for w in words)
                         + r"(?![\w'’])", re.IGNORECASE)
        for m in pat.finditer(text):
            if all(m.end() <= a or m.start() >= b for a, b, _ in spans):
                spans.append((m.start(), m.end(), float(cue.weight)))
    return sorted(spans)


def _paint(piece: str, offset: int, spans: list[tuple[int, int, float]]) -> str:
    """``piece`` (the text from ``offset``) with the parts inside ``spans`` coloured."""
    out, pos = [], 0
    for a, b, w in spans:
        a, b = max(a - offset, 0), min(b - offset, len(piece))
        if b <= pos or a >= len(piece):
            continue
        a = max(a, pos)
        out.append(piece[pos:a])
        out.append((UP if w > 0 else DOWN) + piece[a:b] + RESET)
        pos = b
    out.append(piece[pos:])
    return "".join(out)


def why_line(contributions: dict) -> str:
    """``Voice +2.1 (louder than their normal) · Words +1.6 (angry words)``: each group's sum and
    its largest term, with human labels."""
    from voicemon.escalation.labels import GROUP_LABELS, grouped

    bits = []
    for group, items in grouped({k: v for k, v in contributions.items() if isinstance(v, (int, float))}).items():
        total = sum(v for _, _, v in items)
        if group == "bias" or abs(total) < 0.05:
            continue
        bits.append((group, f"{GROUP_LABELS[group]} {total:+.1f} ({items[0][1]})"))
    order = ["voice", "words", "conversation"]
    return " · ".join(text for _, text in sorted(bits, key=lambda b: order.index(b[0])))
