"""The coach: playbook rules that turn meter levels and cues into one clear prompt at a time."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from voicemon.errors import ConfigError
from voicemon.events import LEVELS, CoachingPrompt, Cue, EscalationReading, level_rank


@dataclass(frozen=True)
class Rule:
    """One playbook rule (see ``models/playbook.toml`` for the meaning of each field)."""

    id: str
    text: str
    technique: str
    why: str
    priority: int
    cooldown_s: float
    ttl_s: float
    on_cue: tuple[str, ...] = ()
    cue_role: str = "any"
    on_level: str | None = None
    on_cooldown: bool = False
    on_agent_level: str | None = None
    min_level: str | None = None


def load_playbook(path: str | None = None) -> list[Rule]:
    """Read a playbook TOML (default: the bundled ``models/playbook.toml``).

    Raises:
        ConfigError: missing file or a malformed rule.
    """
    try:
        if path is None:
            raw = resources.files("voicemon.models").joinpath("playbook.toml").read_bytes()
        else:
            raw = Path(path).read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read playbook {path or 'bundled playbook.toml'}: {exc}") from exc
    rules = []
    for i, spec in enumerate(data.get("rule", [])):
        try:
            rule = Rule(
                id=str(spec["id"]), text=str(spec["text"]), technique=str(spec["technique"]),
                why=str(spec.get("why", "")), priority=int(spec["priority"]),
                cooldown_s=float(spec.get("cooldown_s", 30)), ttl_s=float(spec.get("ttl_s", 10)),
                on_cue=tuple(spec.get("on_cue", ())), cue_role=str(spec.get("cue_role", "any")),
                on_level=spec.get("on_level"), on_cooldown=bool(spec.get("on_cooldown", False)),
                on_agent_level=spec.get("on_agent_level"), min_level=spec.get("min_level"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"playbook rule #{i + 1} is malformed: {exc}") from exc
        for level in (rule.on_level, rule.on_agent_level, rule.min_level):
            if level is not None and level not in LEVELS:
                raise ConfigError(f"playbook rule {rule.id}: unknown level {level!r} (levels: {', '.join(LEVELS)})")
        if not (rule.on_cue or rule.on_level or rule.on_cooldown or rule.on_agent_level):
            raise ConfigError(f"playbook rule {rule.id} has no trigger (on_cue, on_level, on_cooldown or on_agent_level)")
        rules.append(rule)
    return rules


def outcome_party(rule: Rule) -> tuple[str, str]:
    """Whose meter shows whether a prompt of ``rule`` worked, and what it should do.

    A prompt about the agent's own voice (``on_agent_level``, e.g. "Breathe — slow down") is
    judged on the agent's meter; every other prompt on the caller's. A cooldown prompt
    (``on_cooldown``, "Thank them…") fires *because* the meter fell, so its goal is that the meter
    stays down, not that it falls (again).

    Returns:
        ``(party, goal)``: party ``"agent"`` or ``"caller"``, goal ``"fall"`` or ``"stay"``.
    """
    return ("agent" if rule.on_agent_level else "caller", "stay" if rule.on_cooldown else "fall")


@lru_cache(maxsize=8)
def outcome_plan(path: str | None = None) -> dict[str, tuple[str, str]]:
    """``rule id -> (party, goal)`` (:func:`outcome_party`) for every rule of a playbook.

    Raises:
        ConfigError: the playbook cannot be read.
    """
    return {rule.id: outcome_party(rule) for rule in load_playbook(path)}


class Coach:
    """Fire playbook prompts; a synchronous stage fed readings and cues in media time.

    Only one prompt is up at a time: a new one replaces the current one only if it has a higher
    priority or the current one has expired. Each rule has its own cooldown. A level rule
    (``on_level``) that is blocked by a higher-priority prompt is kept pending and fires when
    that prompt expires, if the caller is still at that level: an agent told "Say what you CAN
    do" still hears "Acknowledge the feeling" once the caller is heated.

    Args:
        rules: the playbook.
        caller_role: whose meter is the caller's (``customer`` or ``mixed``).
        agent_role: the agent's role, or ``None`` on a mono call.
    """

    def __init__(self, rules: list[Rule], caller_role: str, agent_role: str | None) -> None:
        self.rules = rules
        self.caller_role = caller_role
        self.agent_role = agent_role
        self.caller_level = "calm"
        self.caller_score = 0.0
        self._peak_rank = 0
        self._agent_level = "calm"
        self._last_fired: dict[str, float] = {}
        self._current: CoachingPrompt | None = None
        self._current_priority = -1
        self._count = 0
        self._pending: tuple[Rule, str] | None = None

    def on_reading(self, reading: EscalationReading) -> list[CoachingPrompt]:
        """Take a meter reading of either party."""
        out: list[CoachingPrompt] = []
        if reading.role == self.caller_role:
            prev = self.caller_level
            self.caller_level, self.caller_score = reading.level, reading.score
            if reading.changed:
                rank = level_rank(reading.level)
                for rule in self.rules:
                    if rule.on_level and rank > level_rank(prev) and rank >= level_rank(rule.on_level):
                        self._fire(rule, reading.t, f"caller's meter went {prev} → {reading.level} (score {reading.score:.0f})", out)
                if rank < level_rank(prev) and self._peak_rank >= level_rank("heated") and rank <= level_rank("tense"):
                    for rule in self.rules:
                        if rule.on_cooldown:
                            self._fire(rule, reading.t, f"caller's meter fell from {LEVELS[self._peak_rank]} to {reading.level}", out)
                    self._peak_rank = rank
                self._peak_rank = max(self._peak_rank, rank)
            self._fire_pending(reading, out)
        elif reading.role == self.agent_role:
            prev = self._agent_level
            self._agent_level = reading.level
            if reading.changed and level_rank(reading.level) > level_rank(prev):
                for rule in self.rules:
                    if rule.on_agent_level and level_rank(reading.level) >= level_rank(rule.on_agent_level):
                        top = max(reading.contributions.items(), key=lambda kv: kv[1] if kv[0] != "bias" else -1e9)[0]
                        self._fire(rule, reading.t, f"your meter went {prev} → {reading.level} (mostly {top})", out)
        return out

    def _fire_pending(self, reading: EscalationReading, out: list[CoachingPrompt]) -> None:
        if self._pending is None:
            return
        rule, reason = self._pending
        if level_rank(reading.level) < level_rank(rule.on_level or "heated"):
            self._pending = None
            return
        if self._current is not None and reading.t < self._current.expires_at:
            return
        self._pending = None
        self._fire(rule, reading.t, f"{reason}; still {reading.level} (score {reading.score:.0f})", out)

    def on_cue(self, cue: Cue, now: float) -> list[CoachingPrompt]:
        """Take a cue (text or conversational) at media time ``now``."""
        out: list[CoachingPrompt] = []
        for rule in self.rules:
            if cue.kind not in rule.on_cue:
                continue
            if rule.cue_role != "any" and cue.role not in (rule.cue_role, "mixed"):
                continue
            if rule.min_level and level_rank(self.caller_level) < level_rank(rule.min_level):
                continue
            if cue.source != "text":
                reason = cue.evidence
            elif cue.role == "agent":
                reason = f"you said “{cue.evidence}”"
            elif cue.role == "customer" or rule.cue_role == "customer":
                reason = f"caller said “{cue.evidence}”"
            else:  # one channel, a rule about the agent's words: the voices are not told apart
                reason = f"“{cue.evidence}” was said on the call"
            if rule.min_level:
                reason += f" while the caller is {self.caller_level} (score {self.caller_score:.0f})"
            self._fire(rule, now, reason, out)
        return out

    def _fire(self, rule: Rule, t: float, reason: str, out: list[CoachingPrompt]) -> None:
        last = self._last_fired.get(rule.id)
        if last is not None and t - last < rule.cooldown_s:
            return
        if self._current is not None and t < self._current.expires_at and rule.priority <= self._current_priority:
            if rule.on_level:
                self._pending = (rule, reason)
            return
        self._count += 1
        prompt = CoachingPrompt(
            t=round(t, 3), id=f"p{self._count}", kind=rule.id, text=rule.text, technique=rule.technique,
            priority=rule.priority, reason=f"{reason}. {rule.why}".strip(), expires_at=round(t + rule.ttl_s, 3),
        )
        self._last_fired[rule.id] = t
        self._current, self._current_priority = prompt, rule.priority
        out.append(prompt)
