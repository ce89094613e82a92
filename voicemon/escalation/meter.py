"""The escalation meter: prosody z-scores and cues fused into a smoothed 0–100 score per party.

See ``models/meter.toml`` for the model and its parameters, and docs/meter.md for the reasoning.
"""

from __future__ import annotations

import math
import tomllib
from collections import deque
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from voicemon.errors import ConfigError
from voicemon.events import LEVELS, Cue, EscalationReading, ProsodyFrame
from voicemon.prosody.baseline import FeaturePrior

MAX_FRAME_DT_S = 0.5
FALLBACK_FEATURES = ("loudness",)
"""Features read against a population reference when a baseline may have learned anger. Only
loudness: its reference is the other party's level (or the population level on a mono call);
the spectral priors depend on the channel (a telephone band flattens the Hammarberg index and
lowers harmonicity for everyone) and the pitch prior on the speaker's sex."""
OTHER_PARTY_FRAMES = 400
"""Voiced frames of a party kept for its median level (100 s at 4 frames a second)."""
OTHER_PARTY_MIN_FRAMES = 8
"""The other party's level is used only once this many of its voiced frames were heard."""


@dataclass(frozen=True)
class MeterParams:
    """Parsed ``meter.toml``."""

    bias: float
    z_min: float
    z_max: float
    weights: dict[str, float]
    priors: dict[str, FeaturePrior]
    prosody_ema_s: float
    silence_hold_s: float
    silence_half_life_s: float
    cue_half_life_s: float
    cue_cap: float
    attack_s: float
    release_s: float
    trend_window_s: float
    thresholds: dict[str, float]
    exit_margin: float
    min_dwell_s: float
    version: int = 2
    enter_delay_s: float = 0.0
    fusion: "FusionV3 | None" = None


@dataclass(frozen=True)
class FusionV3:
    """``[fusion.v3]`` of ``meter.toml``: escalation = voice arousal x the valence of the words.

    Attributes:
        voice_cap: the most the voice terms together may add to the logit.
        positive_damping: share of the voice term removed when the speaker's own words are
            clearly positive (positivity 1).
        negative_gain: extra share of the voice term added when the speaker's own words are
            clearly negative (negativity 1).
        negative_ref: logits of the speaker's own escalating word cues that make negativity 1.
        positive_ref: logits of the speaker's own positive word cues that make positivity 1.
        taint_min_weight: escalating word cues of the speaker adding up to at least this weight,
            said while their baseline was still forming, make the meter read their loudness
            against the other party (or the population) too: the baseline may have learned anger.
        valence_half_life_s: how fast the speaker's own words stop gating their voice (shorter
            than the cues' own half-life: "thanks", or a complaint, a minute ago says little
            about the turn now).
        other_party_scale_db: while a speaker's baseline is untrusted, their loudness is also
            read against the other party's median level with this sigma (two legs of a call
            arrive at similar levels; a mono mix has one gain for both).
    """

    voice_cap: float
    positive_damping: float
    negative_gain: float
    negative_ref: float
    positive_ref: float
    taint_min_weight: float
    valence_half_life_s: float
    other_party_scale_db: float


PREVIOUS_METER = "meter_v2.toml"
"""The previous bundled meter, kept so every meter change is measured against it."""


def load_meter_params(path: str | None = None, bundled: str = "meter.toml") -> MeterParams:
    """Read meter parameters (default: the bundled ``models/meter.toml``).

    Args:
        path: a parameter file; None = the bundled file named ``bundled``.
        bundled: which bundled file (``meter.toml``, or :data:`PREVIOUS_METER`).

    Raises:
        ConfigError: missing file or missing/invalid keys.
    """
    try:
        if path is None:
            raw = resources.files("voicemon.models").joinpath(bundled).read_bytes()
        else:
            raw = Path(path).read_bytes()
        d = tomllib.loads(raw.decode("utf-8"))
        fusion, smooth, levels = d["fusion"], d["smoothing"], d["levels"]
        params = MeterParams(
            bias=float(fusion["bias"]), z_min=float(fusion["z_min"]), z_max=float(fusion["z_max"]),
            weights={k: float(v) for k, v in fusion["weights"].items()},
            priors={k: FeaturePrior(*map(float, v)) for k, v in d["priors"].items()},
            prosody_ema_s=float(smooth["prosody_ema_s"]), silence_hold_s=float(smooth["silence_hold_s"]),
            silence_half_life_s=float(smooth["silence_half_life_s"]),
            cue_half_life_s=float(smooth["cue_half_life_s"]), cue_cap=float(smooth["cue_cap"]),
            attack_s=float(smooth["attack_s"]), release_s=float(smooth["release_s"]),
            trend_window_s=float(smooth["trend_window_s"]),
            thresholds={k: float(levels[k]) for k in LEVELS[1:]},
            exit_margin=float(levels["exit_margin"]), min_dwell_s=float(levels["min_dwell_s"]),
            enter_delay_s=float(levels.get("enter_delay_s", 0.0)),
            version=int(d.get("version", 2)),
            fusion=_fusion_v3(fusion["v3"]) if int(d.get("version", 2)) >= 3 else None,
        )
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"cannot read meter parameters {path or 'bundled ' + bundled}: {exc}") from exc
    from voicemon.prosody.tracker import Z_FEATURES

    unknown = sorted(set(params.priors) - set(Z_FEATURES))
    if unknown:
        raise ConfigError(f"meter parameters {path or 'bundled meter.toml'}: [priors] names unknown prosody "
                          f"feature(s) {', '.join(unknown)} (known: {', '.join(Z_FEATURES)})")
    return params


def _fusion_v3(d: dict[str, Any]) -> FusionV3:
    return FusionV3(**{f: float(d[f]) for f in FusionV3.__dataclass_fields__})


WORD_SOURCES = ("text", "words")
"""Cue sources that are evidence from what was said (the rest is conversation structure)."""
POSITIVE_WORD_KINDS = ("words:positive", "text:thanks")
"""Cue keys that are the speaker's own positive words (they damp the voice term)."""


def group_of(key: str) -> str:
    """Which part of the meter a contribution key belongs to: bias, voice, words or conversation."""
    if key == "bias":
        return "bias"
    source = key.split(":", 1)[0] if ":" in key else None
    if source is None:
        return "voice"
    return "words" if source in WORD_SOURCES else "conversation"


class _RoleMeter:
    def __init__(self, role: str, p: MeterParams) -> None:
        self.role = role
        self.p = p
        self.ema: dict[str, float] = {}
        self.ema_prior: dict[str, float] = {}
        self.levels_db: deque[float] = deque(maxlen=OTHER_PARTY_FRAMES)
        self.other: "_RoleMeter | None" = None
        self.formed_t: float | None = None
        self.tainted_by: str | None = None
        self.last_frame_t: float | None = None
        self.last_voiced_t: float | None = None
        self.cues: list[Cue] = []
        self.score = 100.0 / (1.0 + math.exp(-p.bias))
        self.level = "calm"
        self.level_since = 0.0
        self.last_t = 0.0
        self.history: deque[tuple[float, float]] = deque()
        self.above_since: dict[int, float] = {}

    def add_frame(self, frame: ProsodyFrame) -> None:
        if not frame.z:
            return
        # One frame's weight in the average: its own hop, at most MAX_FRAME_DT_S after a pause.
        dt = MAX_FRAME_DT_S if self.last_frame_t is None else min(MAX_FRAME_DT_S, max(0.0, frame.t - self.last_frame_t))
        a = 1.0 - math.exp(-dt / self.p.prosody_ema_s)
        fade = self._fade(frame.t)
        z_prior = dict(frame.z_prior)
        v3 = self.p.fusion
        if v3 is not None and "loudness" in z_prior and self.other is not None and len(self.other.levels_db) >= OTHER_PARTY_MIN_FRAMES:
            # Against the other party's normal level: on an untrusted baseline the better population
            # reference for loudness, which depends on the line gain.
            other_db = float(np.median(np.asarray(self.other.levels_db)))
            z_prior["loudness"] = (frame.loudness_db - other_db) / v3.other_party_scale_db
        self.levels_db.append(frame.loudness_db)
        for ema, zs in ((self.ema, frame.z), (self.ema_prior, z_prior)):
            for k, z in zs.items():
                prev = ema.get(k, 0.0) * fade
                ema[k] = prev + a * (z - prev)
            for k in set(ema) - set(zs):
                ema[k] *= fade
        if self.formed_t is None and frame.baseline == "speaker":
            self.formed_t = frame.t
        self.last_frame_t = frame.t
        self.last_voiced_t = frame.t

    def _fade(self, t: float) -> float:
        if self.last_voiced_t is None:
            return 0.0
        gap = t - self.last_voiced_t - self.p.silence_hold_s
        return 1.0 if gap <= 0 else 0.5 ** (gap / self.p.silence_half_life_s)

    def _own_words(self, cue: Cue) -> bool:
        """Whether a cue is something this party said (not, say, the agent's cue aimed at them)."""
        return cue.role in (self.role, "mixed") and cue.source in WORD_SOURCES

    def add_cue(self, cue: Cue) -> None:
        self.cues.append(cue)
        v3 = self.p.fusion
        if v3 is None or self.tainted_by is not None or self.formed_t is not None and cue.t > self.formed_t:
            return
        own = [c for c in self.cues if self._own_words(c) and c.weight > 0 and (self.formed_t is None or c.t <= self.formed_t)]
        if cue in own and sum(c.weight for c in own) >= v3.taint_min_weight:
            self.tainted_by = " … ".join(c.evidence for c in own if c.source == "text") or cue.evidence

    def logit(self, t: float) -> tuple[float, dict[str, float], list[str]]:
        p = self.p
        contributions: dict[str, float] = {"bias": p.bias}
        notes: list[str] = []
        fade = self._fade(t)
        voice: dict[str, float] = {}
        from_priors = 0.0
        for k, w in p.weights.items():
            # A negative weight means "lower than this speaker's normal is escalating": the
            # z-score is mirrored, so the same clipping bounds apply in the escalating direction.
            sign = 1.0 if w >= 0 else -1.0
            z = self.ema.get(k, 0.0) * fade * sign
            if self.tainted_by is not None and k in self.ema_prior and k in FALLBACK_FEATURES:
                # The baseline formed while the words were already negative: it may have learned
                # anger, so the voice is also read against the population, and the higher wins.
                zp = self.ema_prior[k] * fade * sign
                if zp > z:
                    from_priors += abs(w) * (min(p.z_max, max(p.z_min, zp)) - min(p.z_max, max(p.z_min, z)))
                    z = zp
            voice[k] = abs(w) * min(p.z_max, max(p.z_min, z))
        per_kind: dict[str, float] = {}
        unit: dict[str, float] = {}
        keep: list[Cue] = []
        for cue in self.cues:
            age = max(0.0, t - cue.t)
            value = cue.weight * 0.5 ** (age / p.cue_half_life_s)
            if abs(value) > 0.01 * abs(cue.weight):
                keep.append(cue)
            key = f"{cue.source}:{cue.kind}"
            per_kind[key] = per_kind.get(key, 0.0) + value
            unit[key] = max(unit.get(key, 0.0), abs(cue.weight))
        self.cues = keep
        cue_terms: dict[str, float] = {}
        for key, value in per_kind.items():
            cap = p.cue_cap * unit[key]
            cue_terms[key] = max(-cap, min(cap, value))
        v3 = p.fusion
        if v3 is None:  # version 2: a plain sum; the words' valence cues are not part of it
            contributions.update(voice)
            contributions.update({k: v for k, v in cue_terms.items() if not k.startswith("words:")})
            return sum(contributions.values()), contributions, notes
        own_negative = own_positive = 0.0
        for c in self.cues:
            if not self._own_words(c):
                continue
            recent = c.weight * 0.5 ** (max(0.0, t - c.t) / v3.valence_half_life_s)
            if c.weight > 0:
                own_negative += recent
            elif f"{c.source}:{c.kind}" in POSITIVE_WORD_KINDS:
                own_positive -= recent
        negativity = min(1.0, own_negative / v3.negative_ref)
        positivity = min(1.0, own_positive / v3.positive_ref)
        total_voice = sum(voice.values())
        capped = min(total_voice, v3.voice_cap)
        gain = (1.0 - v3.positive_damping * positivity) * (1.0 + v3.negative_gain * negativity)
        scale = (capped * gain / total_voice) if total_voice > 1e-9 else 1.0
        for k, v in voice.items():
            contributions[k] = v * scale if v > 0 else v
        contributions.update(cue_terms)
        if self.tainted_by is not None and from_priors > 0.005:
            notes.append(f"voice read against population priors (+{from_priors * scale:.2f}): "
                         f"“{self.tainted_by}” was said while their baseline formed")
        if positivity > 0.05 and total_voice > 0.05:
            notes.append(f"voice damped x{1.0 - v3.positive_damping * positivity:.2f} by positive words")
        if negativity > 0.05 and total_voice > 0.05:
            notes.append(f"voice amplified x{1.0 + v3.negative_gain * negativity:.2f} by negative words")
        if total_voice > v3.voice_cap:
            notes.append(f"voice capped at {v3.voice_cap:g}")
        return sum(contributions.values()), contributions, notes

    def tick(self, t: float) -> EscalationReading:
        p = self.p
        x, contributions, notes = self.logit(t)
        target = 100.0 / (1.0 + math.exp(-x))
        dt = max(0.0, t - self.last_t)
        tau = p.attack_s if target > self.score else p.release_s
        self.score += (1.0 - math.exp(-dt / tau)) * (target - self.score)
        self.last_t = t
        changed = self._update_level(t)
        self.history.append((t, self.score))
        while self.history and self.history[0][0] < t - p.trend_window_s:
            self.history.popleft()
        t0, s0 = self.history[0]
        trend = (self.score - s0) / (t - t0) if t > t0 else 0.0
        kept = {k: round(v, 3) for k, v in contributions.items() if abs(v) >= 0.001 or k == "bias"}
        parts: dict[str, float] = {}
        for k, v in kept.items():
            if k != "bias":
                parts[group_of(k)] = parts.get(group_of(k), 0.0) + v
        return EscalationReading(
            t=round(t, 3), role=self.role, score=round(self.score, 2), level=self.level, changed=changed,
            contributions=kept, trend=round(trend, 3),
            parts={k: round(v, 3) for k, v in sorted(parts.items())}, notes=tuple(notes),
        )

    def _update_level(self, t: float) -> bool:
        p = self.p
        s = self.score
        idx = LEVELS.index(self.level)
        up = 0
        for i, name in enumerate(LEVELS[1:], start=1):
            if s < p.thresholds[name]:
                self.above_since.pop(i, None)
                continue
            since = self.above_since.setdefault(i, t)
            # heated and above are entered only once the score has stayed there enter_delay_s:
            # a laugh or a cough that brushes the threshold is not an alarm
            if i == 1 or t - since >= p.enter_delay_s - 1e-9:
                up = i
        if up > idx:
            self.level, self.level_since = LEVELS[up], t
            return True
        if idx > 0 and s < p.thresholds[self.level] - p.exit_margin and t - self.level_since >= p.min_dwell_s:
            down = 0
            for i, name in enumerate(LEVELS[1:], start=1):
                if s >= p.thresholds[name] - p.exit_margin:
                    down = i
            self.level, self.level_since = LEVELS[min(down, idx - 1)], t
            return True
        return False


class EscalationMeter:
    """Per-party escalation meter; a synchronous stage ticking at a fixed rate of media time.

    Args:
        roles: the parties to meter.
        params: fusion, smoothing and level parameters.
        readings_hz: readings per second per party.
    """

    def __init__(self, roles: tuple[str, ...], params: MeterParams, readings_hz: float) -> None:
        self.params = params
        self.period_s = 1.0 / readings_hz
        self._meters = {r: _RoleMeter(r, params) for r in roles}
        if set(roles) == {"agent", "customer"}:
            self._meters["agent"].other, self._meters["customer"].other = self._meters["customer"], self._meters["agent"]
        self._next_tick = 1

    def add_frame(self, frame: ProsodyFrame) -> None:
        """Take a prosody frame of one party."""
        if frame.role in self._meters:
            self._meters[frame.role].add_frame(frame)

    def add_cue(self, cue: Cue) -> None:
        """Take a cue; it moves the meter of ``cue.target`` (or of its speaker)."""
        target = cue.target or cue.role
        if target in self._meters:
            self._meters[target].add_cue(cue)
        elif "mixed" in self._meters:
            self._meters["mixed"].add_cue(cue)

    def advance(self, t: float) -> list[EscalationReading]:
        """Emit every reading due up to media time ``t`` (all parties, tick by tick)."""
        out: list[EscalationReading] = []
        while self._next_tick * self.period_s <= t + 1e-9:
            tick_t = self._next_tick * self.period_s
            for m in self._meters.values():
                out.append(m.tick(tick_t))
            self._next_tick += 1
        return out
