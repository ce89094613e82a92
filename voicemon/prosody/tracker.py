"""Incremental per-speaker prosody: features over a sliding window, z-scored against the
speaker's own baseline (:mod:`voicemon.prosody.baseline`).

Every ``hop_s`` of media time the tracker measures the last ``window_s`` of one party's audio
while that party is talking, and emits a :class:`~voicemon.events.ProsodyFrame`. Silence costs
nothing: windows with no speech activity are skipped.
"""

from __future__ import annotations

import numpy as np

from voicemon.config import ProsodyOptions
from voicemon.events import SAMPLE_RATE_HZ, AudioChunk, ProsodyFrame
from voicemon.prosody.baseline import FeaturePrior, RobustBaseline
from voicemon.prosody.features import window_features

MIN_VOICED_RATIO = 0.2
"""A window with less voiced time than this is not scored (mostly pause or noise)."""

# Feature name in z -> key in window_features(). A feature is scored when the meter parameters
# give it a population prior (models/meter.toml [priors]).
Z_FEATURES = {
    "loudness": "loudness_db",
    "pitch": "pitch_st",
    "pitch_range": "pitch_range_st",
    "rate": "rate_syl_s",
    "tilt": "tilt_db",
    "hammarberg": "hammarberg_db",
    "harmonicity": "harmonicity_db",
}


class ProsodyTracker:
    """One party's prosody over time; a synchronous, clock-free stage.

    Args:
        role: the party.
        options: window, hop, pitch bounds and baseline lengths.
        priors: population priors per feature in :data:`Z_FEATURES`.
    """

    def __init__(self, role: str, options: ProsodyOptions, priors: dict[str, FeaturePrior]) -> None:
        self.role = role
        self.opt = options
        self._features = {name: key for name, key in Z_FEATURES.items() if name in priors}
        self.baseline = RobustBaseline(priors, options.baseline_voiced_s, options.adapt_half_life_s)
        self._win = int(round(options.window_s * SAMPLE_RATE_HZ))
        self._hop = int(round(options.hop_s * SAMPLE_RATE_HZ))
        self._ring = np.zeros(0, np.float32)
        self._ring_start = 0
        self._next_emit = self._hop
        self._last_active_end = -10 * self._win

    def feed(self, chunk: AudioChunk, speaking: bool) -> list[ProsodyFrame]:
        """Take the next chunk.

        Args:
            chunk: this party's audio.
            speaking: whether voice activity was detected in this chunk.

        Returns:
            The frames whose windows ended inside this chunk.
        """
        self._ring = np.concatenate([self._ring, chunk.samples.astype(np.float32, copy=False)])
        end = chunk.start_sample + len(chunk.samples)
        if speaking:
            self._last_active_end = end
        frames: list[ProsodyFrame] = []
        while self._next_emit <= end:
            t1 = self._next_emit
            t0 = max(0, t1 - self._win)
            if self._last_active_end > t0:
                frame = self._measure(t0, t1)
                if frame is not None:
                    frames.append(frame)
            self._next_emit += self._hop
        keep_from = max(self._ring_start, end - self._win)
        drop = keep_from - self._ring_start
        if drop > 0:
            self._ring = self._ring[drop:]
            self._ring_start = keep_from
        return frames

    def _measure(self, t0: int, t1: int) -> ProsodyFrame | None:
        a = t0 - self._ring_start
        x = self._ring[max(0, a): t1 - self._ring_start]
        if len(x) < self._hop:
            return None
        f = window_features(x, SAMPLE_RATE_HZ, fmin_hz=self.opt.fmin_hz, fmax_hz=self.opt.fmax_hz)
        voiced_ratio = float(f.get("voiced_ratio") or 0.0)
        z: dict[str, float] = {}
        z_prior: dict[str, float] = {}
        state = self.baseline.state
        if voiced_ratio >= MIN_VOICED_RATIO:
            values = {name: f.get(key) for name, key in self._features.items()}
            z = self.baseline.z(values)
            z_prior = self.baseline.z_prior(values)
            self.baseline.update(values, voiced_ratio * self.opt.hop_s, z, z_prior)
        return ProsodyFrame(
            t=t1 / SAMPLE_RATE_HZ,
            role=self.role,
            t0=t0 / SAMPLE_RATE_HZ,
            t1=t1 / SAMPLE_RATE_HZ,
            loudness_db=float(loudness) if (loudness := f.get("loudness_db")) is not None else -100.0,
            pitch_hz=f.get("pitch_hz"),
            pitch_range_st=f.get("pitch_range_st"),
            voiced_ratio=voiced_ratio,
            rate_syl_s=f.get("rate_syl_s"),
            tilt_db=f.get("tilt_db"),
            z={k: round(v, 3) for k, v in z.items()},
            baseline=state,
            z_prior={k: round(v, 3) for k, v in z_prior.items()},
        )
