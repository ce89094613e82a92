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

from voicemon.errors import ConfigError
from voicemon.events import LEVELS, Cue, EscalationReading, ProsodyFrame
from voicemon.prosody.baseline import FeaturePrior

MAX_FRAME_DT_S = 0.5


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


def load_meter_params(path: str | None = None) -> MeterParams:
    """Read meter parameters (default: the bundled ``models/meter.toml``).

    Raises:
        ConfigError: missing file or missing/invalid keys.
    """
    try:
        if path is None:
            raw = resources.files("voicemon.models").joinpath("meter.toml").read_bytes()
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
        )
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"cannot read meter parameters {path or 'bundled meter.toml'}: {exc}") from exc
    from voicemon.prosody.tracker import Z_FEATURES

    unknown = sorted(set(params.priors) - set(Z_FEATURES))
    if unknown:
        raise ConfigError(f"meter parameters {path or 'bundled meter.toml'}: [priors] names unknown prosody "
                          f"feature(s) {', '.join(unknown)} (known: {', '.join(Z_FEATURES)})")
    return params


class _RoleMeter:
    def __init__(self, role: str, p: MeterParams) -> None:
        self.role = role
        self.p = p
        self.ema: dict[str, float] = {}
        self.last_frame_t: float | None = None
        self.last_voiced_t: float | None = None
        self.cues: list[Cue] = []
        self.score = 100.0 / (1.0 + math.exp(-p.bias))
        self.level = "calm"
        self.level_since = 0.0
        self.last_t = 0.0
        self.history: deque[tuple[float, float]] = deque()

    def add_frame(self, frame: ProsodyFrame) -> None:
        if not frame.z:
            return
        # One frame's weight in the average: its own hop, at most MAX_FRAME_DT_S after a pause.
        dt = MAX_FRAME_DT_S if self.last_frame_t is None else min(MAX_FRAME_DT_S, max(0.0, frame.t - self.last_frame_t))
        a = 1.0 - math.exp(-dt / self.p.prosody_ema_s)
        fade = self._fade(frame.t)
        for k, z in frame.z.items():
            prev = self.ema.get(k, 0.0) * fade
            self.ema[k] = prev + a * (z - prev)
        for k in set(self.ema) - set(frame.z):
            self.ema[k] *= fade
        self.last_frame_t = frame.t
        self.last_voiced_t = frame.t

    def _fade(self, t: float) -> float:
        if self.last_voiced_t is None:
            return 0.0
        gap = t - self.last_voiced_t - self.p.silence_hold_s
        return 1.0 if gap <= 0 else 0.5 ** (gap / self.p.silence_half_life_s)

    def logit(self, t: float) -> tuple[float, dict[str, float]]:
        p = self.p
        contributions: dict[str, float] = {"bias": p.bias}
        fade = self._fade(t)
        for k, w in p.weights.items():
            # A negative weight means "lower than this speaker's normal is escalating": the
            # z-score is mirrored, so the same clipping bounds apply in the escalating direction.
            z = self.ema.get(k, 0.0) * fade * (1.0 if w >= 0 else -1.0)
            contributions[k] = abs(w) * min(p.z_max, max(p.z_min, z))
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
        for key, value in per_kind.items():
            cap = p.cue_cap * unit[key]
            contributions[key] = max(-cap, min(cap, value))
        return sum(contributions.values()), contributions

    def tick(self, t: float) -> EscalationReading:
        p = self.p
        x, contributions = self.logit(t)
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
        return EscalationReading(
            t=round(t, 3), role=self.role, score=round(self.score, 2), level=self.level, changed=changed,
            contributions={k: round(v, 3) for k, v in contributions.items() if abs(v) >= 0.001 or k == "bias"},
            trend=round(trend, 3),
        )

    def _update_level(self, t: float) -> bool:
        p = self.p
        s = self.score
        idx = LEVELS.index(self.level)
        up = 0
        for i, name in enumerate(LEVELS[1:], start=1):
            if s >= p.thresholds[name]:
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
        self._next_tick = 1
        self._latest: dict[str, EscalationReading] = {}

    def level(self, role: str) -> str:
        """Current level of a party (``calm`` for unknown roles)."""
        m = self._meters.get(role)
        return m.level if m else "calm"

    def latest(self, role: str) -> EscalationReading | None:
        """The last reading of a party."""
        return self._latest.get(role)

    def add_frame(self, frame: ProsodyFrame) -> None:
        """Take a prosody frame of one party."""
        if frame.role in self._meters:
            self._meters[frame.role].add_frame(frame)

    def add_cue(self, cue: Cue) -> None:
        """Take a cue; it moves the meter of ``cue.target`` (or of its speaker)."""
        target = cue.target or cue.role
        if target in self._meters:
            self._meters[target].cues.append(cue)
        elif "mixed" in self._meters:
            self._meters["mixed"].cues.append(cue)

    def advance(self, t: float) -> list[EscalationReading]:
        """Emit every reading due up to media time ``t`` (all parties, tick by tick)."""
        out: list[EscalationReading] = []
        while self._next_tick * self.period_s <= t + 1e-9:
            tick_t = self._next_tick * self.period_s
            for role, m in self._meters.items():
                reading = m.tick(tick_t)
                self._latest[role] = reading
                out.append(reading)
            self._next_tick += 1
        return out
