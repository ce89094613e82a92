"""Robust per-speaker baselines: a person's own normal, learned from the start of the call.

For each feature the baseline is the median and MAD of the speaker's voiced frames during the
first ``baseline_voiced_s`` seconds of voiced speech. Until then it is a shrinkage blend of what
has been heard so far and a population prior (weight = voiced seconds heard / seconds needed),
so early z-scores are conservative and say they come from a prior. After that it adapts slowly
(half-life in voiced seconds), and only on frames that look ordinary for this speaker
(|z| < ``ADAPT_MAX_Z`` on every feature), so a long escalation does not become the new normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ADAPT_MAX_Z = 1.5
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class FeaturePrior:
    """Population prior and noise floor of one feature.

    Attributes:
        center: population median.
        scale: population spread (sigma) used while the speaker's baseline is incomplete.
        min_scale: the smallest speaker sigma allowed (measurement noise; stops a monotone
            speaker's tiny spread from turning small changes into huge z-scores).
    """

    center: float
    scale: float
    min_scale: float


class RobustBaseline:
    """Median/MAD baseline of several features for one speaker.

    Args:
        priors: feature name -> prior.
        baseline_voiced_s: voiced speech needed for a full speaker baseline.
        adapt_half_life_s: half-life, in voiced seconds, of the adaptation after that.
    """

    def __init__(self, priors: dict[str, FeaturePrior], baseline_voiced_s: float, adapt_half_life_s: float) -> None:
        self.priors = priors
        self.baseline_voiced_s = baseline_voiced_s
        self.adapt_half_life_s = adapt_half_life_s
        self.voiced_s = 0.0
        self._samples: dict[str, list[float]] = {k: [] for k in priors}
        self._center: dict[str, float] = {}
        self._scale: dict[str, float] = {}

    @property
    def state(self) -> str:
        """``prior`` (nothing heard), ``partial`` or ``speaker`` (baseline complete)."""
        if self._center:
            return "speaker"
        return "partial" if self.voiced_s > 0 else "prior"

    def reference(self, name: str) -> tuple[float, float]:
        """Current ``(center, sigma)`` of a feature."""
        prior = self.priors[name]
        if name in self._center:
            return self._center[name], self._scale[name]
        values = self._samples[name]
        w = min(1.0, self.voiced_s / self.baseline_voiced_s) if len(values) >= 3 else 0.0
        if w == 0.0:
            return prior.center, prior.scale
        arr = np.asarray(values)
        med = float(np.median(arr))
        sig = max(MAD_TO_SIGMA * float(np.median(np.abs(arr - med))), prior.min_scale)
        center = w * med + (1 - w) * prior.center
        scale = math.sqrt(w * sig**2 + (1 - w) * prior.scale**2)
        return center, scale

    def z(self, values: dict[str, float | None]) -> dict[str, float]:
        """z-scores of the features present in ``values`` against the current baseline."""
        out = {}
        for name, value in values.items():
            if value is None or name not in self.priors:
                continue
            center, scale = self.reference(name)
            out[name] = (value - center) / scale
        return out

    def update(self, values: dict[str, float | None], voiced_s: float, z: dict[str, float]) -> None:
        """Learn from one voiced frame.

        Args:
            values: feature values of the frame.
            voiced_s: voiced seconds the frame adds.
            z: the frame's z-scores (from :meth:`z`, before this update).
        """
        if self._center:
            if any(abs(v) >= ADAPT_MAX_Z for v in z.values()):
                return
            alpha = 1.0 - 0.5 ** (voiced_s / self.adapt_half_life_s)
            for name, value in values.items():
                if value is None or name not in self._center:
                    continue
                center, scale = self._center[name], self._scale[name]
                self._center[name] = center + alpha * (value - center)
                # For a normal variable E|x - mu| = 0.798 sigma: track sigma at the same rate.
                sigma_sample = abs(value - center) / 0.798
                self._scale[name] = max(self.priors[name].min_scale, scale + alpha * (sigma_sample - scale))
            self.voiced_s += voiced_s
            return
        self.voiced_s += voiced_s
        for name, value in values.items():
            if value is not None and name in self._samples:
                self._samples[name].append(float(value))
        if self.voiced_s >= self.baseline_voiced_s:
            for name, vals in self._samples.items():
                prior = self.priors[name]
                if len(vals) >= 3:
                    arr = np.asarray(vals)
                    med = float(np.median(arr))
                    self._center[name] = med
                    self._scale[name] = max(MAD_TO_SIGMA * float(np.median(np.abs(arr - med))), prior.min_scale)
                else:
                    self._center[name] = prior.center
                    self._scale[name] = prior.scale
            self._samples = {k: [] for k in self.priors}
