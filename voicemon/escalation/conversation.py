"""Conversational cues from both parties' speech activity: overtalk, dead air, monologues.

Only a two-channel call shows who talks when; on a mono (mixed) call only dead air is measured.
"""

from __future__ import annotations

from voicemon.config import CueOptions
from voicemon.events import Cue, SpeechEnded, SpeechStarted

OVERTALK_WEIGHT = 0.4
DEAD_AIR_WEIGHT = 0.3
MONOLOGUE_WEIGHT = 0.2
MONOLOGUE_PAUSE_S = 3.0


class ConversationCues:
    """Turn-taking cues; a synchronous stage fed speech events and the advancing media time.

    Args:
        roles: the call's roles (``agent``/``customer`` or ``mixed``).
        options: thresholds.
    """

    def __init__(self, roles: tuple[str, ...], options: CueOptions) -> None:
        self.roles = roles
        self.opt = options
        self.stereo = set(roles) == {"agent", "customer"}
        self._speaking: dict[str, float | None] = {r: None for r in roles}
        self._last_end: dict[str, float] = {r: -1.0 for r in roles}
        self._overlap_start: float | None = None
        self._interrupter: str | None = None
        self._silence_start: float | None = None
        self._dead_air_flagged = False
        self._turn_holder: str | None = None
        self._turn_start = 0.0
        self._monologue_flagged = False
        self._started = False

    def _other(self, role: str) -> str:
        return "customer" if role == "agent" else "agent"

    def feed(self, event: SpeechStarted | SpeechEnded) -> list[Cue]:
        """Take a speech start or end of either party."""
        cues: list[Cue] = []
        role = event.role
        if isinstance(event, SpeechStarted):
            self._started = True
            self._silence_start = None
            self._dead_air_flagged = False
            if self.stereo:
                other = self._other(role)
                if self._speaking[other] is not None and self._overlap_start is None:
                    self._overlap_start = event.t
                    self._interrupter = role
                if self._turn_holder != role and self._speaking[other] is None:
                    self._turn_holder = role
                    self._turn_start = event.t
                    self._monologue_flagged = False
            self._speaking[role] = event.t
        else:
            if self.stereo and self._overlap_start is not None:
                length = event.t - self._overlap_start
                interrupter = self._interrupter or role
                if length >= self.opt.overtalk_min_s:
                    cues.append(Cue(
                        t=self._overlap_start, role=interrupter, kind="overtalk", weight=OVERTALK_WEIGHT,
                        evidence=f"{interrupter} talked over {self._other(interrupter)} for {length:.1f} s",
                        source="conversation", target="customer",
                    ))
                self._overlap_start = None
                self._interrupter = None
            self._speaking[role] = None
            self._last_end[role] = event.t
            if all(v is None for v in self._speaking.values()):
                self._silence_start = event.t
        return cues

    def advance(self, t: float) -> list[Cue]:
        """Media time has reached ``t`` on every channel: check running silences and turns."""
        cues: list[Cue] = []
        if not self._started:
            return cues
        if self._silence_start is not None and not self._dead_air_flagged and t - self._silence_start >= self.opt.dead_air_s:
            self._dead_air_flagged = True
            cues.append(Cue(
                t=t, role="agent" if self.stereo else "mixed", kind="dead_air", weight=DEAD_AIR_WEIGHT,
                evidence=f"{t - self._silence_start:.0f} s of silence on the line",
                source="conversation", target="customer" if self.stereo else "mixed",
            ))
        holder = self._turn_holder
        if self.stereo and holder is not None and not self._monologue_flagged:
            recent = self._speaking[holder] is not None or t - self._last_end[holder] < MONOLOGUE_PAUSE_S
            if recent and t - self._turn_start >= self.opt.monologue_s:
                self._monologue_flagged = True
                cues.append(Cue(
                    t=t, role=holder, kind="monologue", weight=MONOLOGUE_WEIGHT,
                    evidence=f"{holder} has talked for {t - self._turn_start:.0f} s without the other party",
                    source="conversation", target="customer",
                ))
        return cues
