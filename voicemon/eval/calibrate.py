"""Calibration of the meter's prosody weights on labelled clips, with speaker-held-out folds.

Procedure (``voicemon eval clips CSV --cv``; the bundled weights in ``models/meter.toml`` were
made with :func:`fit_meter_params` on all speakers of EmoDB, see docs/evaluation.md):

1. **Clip features.** For every body clip of every pseudo-call (clean audio), the mean of each
   prosody z-score over the clip's frames — the speaker-relative features the meter averages.
2. **Weights.** An L2-regularised, class-balanced logistic regression, angry (1) against every
   other label (0), on those means, each clipped to the meter's ``[z_min, z_max]`` in the
   feature's escalating direction (:data:`ESCALATING_DIRECTION`, fixed from the literature; a
   negative weight mirrors the z-score in the meter). A feature the data pushes the other way
   is dropped and the rest refitted. Loudness is *not* fitted: the corpus is peak-normalised, so
   its loudness carries no information (see the data README); loudness keeps its configured
   weight and enters the regression as a fixed offset. Weights under ``MIN_WEIGHT`` are dropped.
3. **Scale.** The bias stays where it is (it is the resting point of the whole meter, text cues
   included). The real meter (smoothing, levels) runs over the training pseudo-calls and one
   factor on the fitted weights is bisected to the largest value that keeps at most
   ``TARGET_NEUTRAL_FA`` of the training speakers' neutral body clips at *heated* and, when
   civil calls are given (``--civil CSV``), keeps those calls (clean audio, no ASR) at no time
   at heated; :data:`SAFETY` times that factor is used. Read, acted neutral sentences vary far
   less than conversation (a question, a laugh), so the civil calls are what bound the factor.

With ``--cv`` each speaker is scored with weights and bias fitted on the other speakers only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from voicemon.config import Config
from voicemon.escalation.meter import MeterParams
from voicemon.events import EscalationReading
from voicemon.eval import metrics
from voicemon.eval.corpus import POSITIVE_LABEL

FIT_FEATURES = ("pitch", "pitch_range", "rate", "tilt", "hammarberg", "harmonicity")
"""Features whose weights are learned (loudness is held fixed, see the module docstring)."""
L2 = 2.0
"""Ridge penalty of the logistic regression (sum of squared weights)."""
MIN_WEIGHT = 0.05
TARGET_NEUTRAL_FA = 0.025
"""Share of training neutral clips allowed at heated or above when the scale is chosen."""
MAX_SCALE = 4.0
SAFETY = 0.8
"""The chosen scale is this fraction of the largest admissible one: acted corpora and three
civil calls do not show every way a calm speaker's voice can move."""


def clip_feature_rows(prepared, transform: str = "clean") -> list[dict]:
    """Per body clip: speaker, label and mean z-score per feature over the clip's frames."""
    from voicemon.eval.clips import clip_mean_z

    out = []
    for call, run in zip(prepared.calls, prepared.runs[transform]):
        frames = run.frames()
        for seg in call.segments:
            if seg.phase != "body":
                continue
            out.append({"speaker": call.speaker, "label": seg.clip.label, "z": clip_mean_z(frames, seg)})
    return out


def _design(rows: list[dict], params: MeterParams, signs: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (clipped in their escalating direction), labels and the fixed loudness offset."""
    X = np.array([[np.clip(signs[f] * r["z"].get(f, 0.0), params.z_min, params.z_max) for f in FIT_FEATURES] for r in rows])
    y = np.array([1.0 if r["label"] == POSITIVE_LABEL else 0.0 for r in rows])
    w_loud = params.weights.get("loudness", 0.0)
    offset = np.array([w_loud * np.clip(r["z"].get("loudness", 0.0), params.z_min, params.z_max) for r in rows])
    return X, y, offset


def logistic_fit(X: np.ndarray, y: np.ndarray, offset: np.ndarray | None = None, l2: float = L2,
                 iterations: int = 50) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (the intercept is not penalised).

    Args:
        X: ``(n, d)`` features.
        y: ``(n,)`` 0/1 labels.
        offset: fixed logit added to every row.
        l2: penalty on the squared weights.
        iterations: Newton steps (stops early on convergence).

    Returns:
        ``(weights, intercept)``.
    """
    n, d = X.shape
    A = np.hstack([X, np.ones((n, 1))])
    off = np.zeros(n) if offset is None else offset
    beta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    # Balance the classes so the weights do not depend on how many angry clips a corpus has.
    cw = np.where(y > 0.5, 0.5 / max(1.0, y.sum()), 0.5 / max(1.0, (1 - y).sum())) * n
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(A @ beta + off)))
        grad = A.T @ (cw * (p - y)) + penalty * beta
        hess = (A * (cw * p * (1 - p))[:, None]).T @ A + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-7:
            break
    return beta[:d], float(beta[d])


ESCALATING_DIRECTION = {"pitch": 1.0, "pitch_range": 1.0, "rate": 1.0, "tilt": 1.0, "hammarberg": -1.0, "harmonicity": -1.0}
"""Which way each feature moves with vocal arousal and effort (higher pitch, wider range, faster,
flatter spectrum = higher alpha ratio and lower Hammarberg index, harsher voice = lower HNR).
Fixed from the speech literature, not from the corpus: a feature that moves the other way in
the calibration data gets weight 0 instead of a sign that would not carry over to real calls."""


def fit_weights(rows: list[dict], params: MeterParams) -> dict[str, float]:
    """Signed fusion weights of :data:`FIT_FEATURES` (loudness kept as configured).

    Weights are constrained to the :data:`ESCALATING_DIRECTION` of each feature: features whose
    fitted weight points the other way are dropped and the rest refitted.
    """
    active = list(FIT_FEATURES)
    X, y, offset = _design(rows, params, ESCALATING_DIRECTION)
    w = np.zeros(0)
    while active:
        cols = [FIT_FEATURES.index(f) for f in active]
        w, _ = logistic_fit(X[:, cols], y, offset)
        wrong = [f for f, wf in zip(active, w) if wf < 0]
        if not wrong:
            break
        active = [f for f in active if f not in wrong]
        w = np.zeros(0)
    weights = {"loudness": params.weights.get("loudness", 0.0)}
    for f, wf in zip(active, w):
        if wf >= MIN_WEIGHT:
            weights[f] = round(float(ESCALATING_DIRECTION[f] * wf), 3)
    return weights


def civil_heated_s(civil: list, config: Config, params: MeterParams) -> float:
    """Seconds any party of calls that stay civil (:class:`~voicemon.eval.pipeline.SignalRun`
    list) spends at heated or above."""
    from voicemon.eval.pipeline import interpret

    period_s = 1.0 / config.meter.readings_hz
    heated = metrics.level_rank("heated")
    return sum(period_s for run in civil for e in interpret(run, config, params)
               if isinstance(e, EscalationReading) and metrics.level_rank(e.level) >= heated)


def choose_scale(prepared, config: Config, params: MeterParams, speakers: set[str], civil: list | None = None,
                 target: float = TARGET_NEUTRAL_FA, transform: str = "clean") -> MeterParams:
    """Scale the fitted prosody weights (loudness and the bias stay as configured).

    The factor is :data:`SAFETY` times the largest one that keeps at most ``target`` of the
    neutral clips of ``speakers`` at heated or above and, when ``civil`` calls are given, keeps
    them at no time at heated. The bias is the resting point of the whole meter, text and
    conversation cues included, so it is not moved; the factor sets how strongly prosody alone
    can drive the meter.
    """
    from voicemon.eval.clips import neutral_heated_share

    def scaled(k: float) -> MeterParams:
        return dataclasses.replace(params, weights={f: (w if f == "loudness" else round(w * k, 3))
                                                    for f, w in params.weights.items()})

    def ok(k: float) -> bool:
        p = scaled(k)
        if neutral_heated_share(prepared, config, p, speakers, transform) > target:
            return False
        return not civil or civil_heated_s(civil, config, p) == 0.0

    lo, hi = 0.0, MAX_SCALE
    if ok(hi):
        return scaled(hi * SAFETY)
    for _ in range(12):
        mid = (lo + hi) / 2.0
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return scaled(lo * SAFETY)


def fit_meter_params(prepared, config: Config, params: MeterParams, speakers: set[str] | None = None,
                     civil: list | None = None) -> MeterParams:
    """Weights fitted on the given speakers (all when None), scaled by :func:`choose_scale`."""
    rows = [r for r in clip_feature_rows(prepared) if speakers is None or r["speaker"] in speakers]
    chosen = speakers if speakers is not None else {r["speaker"] for r in rows}
    fitted = dataclasses.replace(params, weights=fit_weights(rows, params))
    return choose_scale(prepared, config, fitted, chosen, civil)


@dataclass
class CrossValidation:
    """Parameters fitted with each speaker held out.

    Attributes:
        per_speaker: held-out speaker -> parameters fitted on the others.
    """

    per_speaker: dict[str, MeterParams] = field(default_factory=dict)

    def params_for(self, speaker: str) -> MeterParams:
        """The parameters that never saw ``speaker``."""
        return self.per_speaker[speaker]

    def describe(self) -> dict:
        """Weights and bias of every fold, and their spread."""
        folds = {s: {"bias": p.bias, "weights": p.weights} for s, p in self.per_speaker.items()}
        names = sorted({k for p in self.per_speaker.values() for k in p.weights})
        spread = {k: [min(p.weights.get(k, 0.0) for p in self.per_speaker.values()),
                      max(p.weights.get(k, 0.0) for p in self.per_speaker.values())] for k in names}
        return {"procedure": "leave-one-speaker-out", "folds": folds, "weight_range": spread}


def cross_validate(prepared, config: Config, params: MeterParams, civil: list | None = None) -> CrossValidation:
    """Fit the meter once per speaker on all the other speakers (and the civil calls, if any)."""
    speakers = sorted({c.speaker for c in prepared.calls})
    cv = CrossValidation()
    for held_out in speakers:
        cv.per_speaker[held_out] = fit_meter_params(prepared, config, params, set(speakers) - {held_out}, civil)
    return cv


def params_toml(source_text: str, params: MeterParams, note: str) -> str:
    """``source_text`` (a meter.toml) with its ``[fusion.weights]`` replaced by ``params.weights``.

    Args:
        source_text: the parameter file the calibration started from.
        params: the calibrated parameters.
        note: comment lines put above the weights (how they were made).

    Raises:
        ValueError: the file has no ``[fusion.weights]`` table.
    """
    lines = source_text.splitlines()
    try:
        start = lines.index("[fusion.weights]")
    except ValueError:
        raise ValueError("meter parameters have no [fusion.weights] table") from None
    end = start + 1
    while end < len(lines) and not lines[end].startswith("["):
        end += 1
    block = ["[fusion.weights]", *(f"# {line}" if line else "#" for line in note.splitlines())]
    block += [f"{k} = {v}" for k, v in params.weights.items()] + [""]
    return "\n".join(lines[:start] + block + lines[end:]) + "\n"
