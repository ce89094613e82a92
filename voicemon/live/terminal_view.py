"""A one-screen live view of a call for a terminal: meters, the current prompt, the transcript.

The view is an event sink: it keeps what it needs from the envelopes it is given and redraws at
most ``fps`` times a second (ANSI escapes; colours per level, which also shows as a word).
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO

LEVEL_COLOURS = {"calm": "\033[32m", "tense": "\033[33m", "heated": "\033[38;5;208m", "critical": "\033[31m"}
RESET = "\033[0m"
BOLD = "\033[1m"
DIM = "\033[2m"
ROLE_LABELS = {"customer": "Customer", "agent": "Agent (you)", "mixed": "Call"}


class TerminalView:
    """Render a call's events as a live dashboard.

    Args:
        call_id: shown in the header.
        roles: the call's roles, caller first in the view.
        out: where to draw (a terminal).
        fps: most redraws per second.
        lines: transcript lines shown.
    """

    def __init__(self, call_id: str, roles: tuple[str, ...], out: TextIO | None = None, fps: float = 8.0,
                 lines: int = 6) -> None:
        self.call_id = call_id
        self.roles = tuple(sorted(roles, key=lambda r: r != "customer"))
        self.out = out or sys.stdout
        self.min_interval_s = 1.0 / fps
        self.max_lines = lines
        self.readings: dict[str, dict] = {}
        self.prompt: dict | None = None
        self.transcript: list[dict] = []
        self.interim: dict[str, dict] = {}
        self.status = ""
        self.media_s = 0.0
        self._last_draw = 0.0
        self._dirty = False

    def __call__(self, env: dict) -> None:
        """Take one event envelope."""
        kind = env["type"]
        self.media_s = max(self.media_s, float(env.get("t", 0.0)))
        if kind == "reading":
            self.readings[env["role"]] = env
        elif kind == "speakers":  # a one-channel call split into agent and customer
            self.roles = tuple(sorted(env["roles"], key=lambda r: r != "customer"))
            self.status = env["message"]
        elif kind == "prompt":
            self.prompt = env
        elif kind == "prompt_ack" and self.prompt and self.prompt["id"] == env["prompt_id"]:
            self.prompt = None
        elif kind == "transcript":
            if env["final"]:
                self.interim.pop(env["role"], None)
                if env["text"]:
                    self.transcript.append(env)
                    self.transcript = self.transcript[-self.max_lines:]
            else:
                self.interim[env["role"]] = env
        elif kind == "asr_status":
            self.status = "" if env["state"] == "ok" else env["message"]
        elif kind != "prosody":
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
        rows = [f"{BOLD}voicemon{RESET} — call {self.call_id}   {minutes:02d}:{seconds:02d}", ""]
        for role in self.roles:
            r = self.readings.get(role)
            label = ROLE_LABELS.get(role, role).ljust(12)
            if r is None:
                rows.append(f"{label} {'·' * 20} waiting")
                continue
            bar_width = max(10, width - 40)
            filled = int(round(bar_width * r["score"] / 100))
            colour = LEVEL_COLOURS.get(r["level"], "")
            trend = "↑" if r.get("trend", 0) > 2 else "↓" if r.get("trend", 0) < -2 else "→"
            bar = colour + "█" * filled + RESET + DIM + "░" * (bar_width - filled) + RESET
            rows.append(f"{label} {bar} {r['score']:5.1f} {colour}{r['level'].upper():<8}{RESET} {trend}")
            why = why_line(r.get("contributions") or {})
            if why:
                rows.append(f"{' ' * 12} {DIM}{why}{RESET}")
        rows.append("")
        if self.prompt and self.prompt.get("expires_at", 1e9) >= self.media_s:
            p = self.prompt
            rows.append(f"{BOLD}▶ {p['text']}{RESET}")
            rows.append(f"  {DIM}{p['technique']} — {p['reason']}{RESET}")
        else:
            rows.append(f"{DIM}(no prompt){RESET}")
        rows.append("")
        for line in self.transcript:
            rows.append(self._line(line, final=True, width=width))
        for role, line in sorted(self.interim.items()):
            rows.append(self._line(line, final=False, width=width))
        if self.status:
            rows += ["", f"\033[33m{self.status}{RESET}"]
        rows += ["", f"{DIM}Ctrl-C ends the call and writes the report{RESET}"]
        return "\n".join(rows)

    @staticmethod
    def _line(env: dict, final: bool, width: int) -> str:
        minutes, seconds = divmod(int(env["start"]), 60)
        who = ROLE_LABELS.get(env["role"], env["role"]).split()[0]
        text = env["text"] if final else env["text"] + " …"
        line = f"{minutes:02d}:{seconds:02d} {who:>8}: {text}"
        line = line if len(line) <= width else line[: width - 1] + "…"
        return line if final else DIM + line + RESET


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
