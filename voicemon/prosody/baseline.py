"""Robust per-speaker baselines: a person's own normal, learned from the start of the call.

For each feature the baseline is the median and MAD of the speaker's voiced frames during the
first ``baseline_voiced_s`` seconds of voiced speech. Until then it is a normal-normal
(conjugate) shrinkage of what has been heard towards a population prior: the speaker's normal
is a priori ``N(center, scale^2 - speaker_scale^2)`` around the population, and each voiced
second is one observation of it with the speaker's own spread. After a few seconds the
speaker's median dominates the center (a woman's voice is not "high" just because the
population median is a man's), while the reference spread still includes the remaining
uncertainty of that median, so early z-scores stay conservative; with nothing heard the
reference is the population prior itself. Once ``PARTIAL_GATE_AFTER_S`` seconds have been
heard, frames that already look unusual for this speaker (|z| >= ``PARTIAL_GATE_Z`` on any
feature) are not learned, so a caller who gets angry early does not turn anger into the
baseline. Frames whose vocal effort is already extreme against the population (|z| >=
``PRIOR_GATE_Z`` against the population prior on a feature of :data:`EFFORT_DIRECTIONS`, in its
escalating direction) are never learned while the baseline forms, from the first frame on, so
a caller who shouts from the first word does not make shouting their normal. After
``baseline_voiced_s`` the reference is frozen and then adapts slowly
(half-life in voiced seconds), and only on frames that look ordinary for this speaker
(|z| < ``ADAPT_MAX_Z`` on every feature), so a long escalation does not become the new normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ADAPT_MAX_Z = 1.5
MAD_TO_SIGMA = 1.4826
PARTIAL_GATE_Z = 2.5
"""While the baseline forms, frames this unusual on any feature are not learned..."""
PARTIAL_GATE_AFTER_S = 3.0
"""...once this many voiced seconds have been heard."""
PRIOR_GATE_Z = 3.0
"""While the baseline forms, a frame this far above the population prior in vocal effort is not
learned, from the first frame on (a caller shouting from the first word)..."""
EFFORT_DIRECTIONS = {"hammarberg": -1.0}
"""...on these level-independent effort features (sign: +1 = higher is more effort). Not loudness
(its population prior is a line level: on a hot line the gate would keep a speaker's louder
frames out of their baseline and bias it low; measured: 53 s heated on a civil call at +10 dB),
not pitch (sex-dependent), not harmonicity (lower for everyone on a noisy line)."""
OBSERVATION_S = 1.0
"""Voiced seconds that make one independent observation (frames overlap; windows are ~1 s)."""
SPREAD_PRIOR_OBS = 4.0
"""Weight, in observations, of ``speaker_scale`` in the estimate of the speaker's own spread."""


@dataclass(frozen=True)
class FeaturePrior:
    """Population prior and noise floor of one feature.

    Attributes:
        center: population median.
        scale: population spread (sigma) used while the speaker's baseline is incomplete.
        min_scale: the smallest speaker sigma allowed (measurement noise; stops a monotone
            speaker's tiny spread from turning small changes into huge z-scores).
        speaker_scale: typical spread (sigma) of one speaker's own frames; None = ``min_scale``.
            ``scale^2 - speaker_scale^2`` is the spread of speakers' normals around ``center``.
    """

    center: float
    scale: float
    min_scale: float
    speaker_scale: float | None = None

    @property
    def within(self) -> float:
        """Typical within-speaker sigma."""
        return self.min_scale if self.speaker_scale is None else self.speaker_scale

    @property
    def between(self) -> float:
        """Spread of speakers' normals around the population center (never below 1e-3)."""
        return math.sqrt(max(self.scale**2 - self.within**2, 1e-6))


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
        self._frames = 0
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
        return _shrunk(prior, self._samples[name], self._heard_s(name))

    def _heard_s(self, name: str) -> float:
        """Voiced seconds behind a feature's samples (a feature may be undefined on some frames)."""
        return self.voiced_s * len(self._samples[name]) / max(1, self._frames)

    def z(self, values: dict[str, float | None]) -> dict[str, float]:
        """z-scores of the features present in ``values`` against the current baseline."""
        out = {}
        for name, value in values.items():
            if value is None or name not in self.priors:
                continue
            center, scale = self.reference(name)
            out[name] = (value - center) / scale
        return out

    def z_prior(self, values: dict[str, float | None]) -> dict[str, float]:
        """z-scores of the features present in ``values`` against the population prior alone."""
        return {name: (value - self.priors[name].center) / self.priors[name].scale
                for name, value in values.items() if value is not None and name in self.priors}

    def update(self, values: dict[str, float | None], voiced_s: float, z: dict[str, float],
               z_prior: dict[str, float] | None = None) -> bool:
        """Learn from one voiced frame.

        Args:
            values: feature values of the frame.
            voiced_s: voiced seconds the frame adds.
            z: the frame's z-scores (from :meth:`z`, before this update).
            z_prior: the frame's z-scores against the population (from :meth:`z_prior`); used
                to keep extreme vocal effort out of a forming baseline.

        Returns:
            Whether the frame was learned.
        """
        if self._center:
            if any(abs(v) >= ADAPT_MAX_Z for v in z.values()):
                return False
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
            return True
        if self.voiced_s >= PARTIAL_GATE_AFTER_S and any(abs(v) >= PARTIAL_GATE_Z for v in z.values()):
            return False
        if z_prior and any(d * z_prior.get(name, 0.0) >= PRIOR_GATE_Z for name, d in EFFORT_DIRECTIONS.items()):
            return False
        self.voiced_s += voiced_s
        self._frames += 1
        for name, value in values.items():
            if value is not None and name in self._samples:
                self._samples[name].append(float(value))
        if self.voiced_s >= self.baseline_voiced_s:
            for name in self.priors:
                self._center[name], self._scale[name] = _shrunk(self.priors[name], self._samples[name], self._heard_s(name))
            self._samples = {k: [] for k in self.priors}
        return True


def _shrunk(prior: FeaturePrior, values: list[float], voiced_s: float) -> tuple[float, float]:
    """Posterior-predictive ``(center, sigma)`` of a feature after hearing ``values``.

    With ``k = voiced_s / OBSERVATION_S`` observations of median ``m`` and robust spread ``s``
    (MAD, itself shrunk towards ``speaker_scale`` with ``SPREAD_PRIOR_OBS`` observations'
    weight, and floored at ``min_scale``): the speaker's normal has posterior precision
    ``1 / between^2 + k / s^2`` and mean ``(center / between^2 + k m / s^2) / precision``; the
    reference sigma is ``sqrt(s^2 + 1 / precision)``. Nothing heard gives ``(center, scale)``.
    """
    if len(values) < 3 or voiced_s <= 0:
        return prior.center, prior.scale
    arr = np.asarray(values)
    med = float(np.median(arr))
    mad_sigma = MAD_TO_SIGMA * float(np.median(np.abs(arr - med)))
    k = voiced_s / OBSERVATION_S
    var_w = max((k * mad_sigma**2 + SPREAD_PRIOR_OBS * prior.within**2) / (k + SPREAD_PRIOR_OBS), prior.min_scale**2)
    precision = 1.0 / prior.between**2 + k / var_w
    center = (prior.center / prior.between**2 + k * med / var_w) / precision
    return center, math.sqrt(var_w + 1.0 / precision)
