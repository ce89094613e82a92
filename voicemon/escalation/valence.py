"""Valence from the words: a sentence-level sentiment score per committed utterance.

Acoustic arousal (loudness, pitch, effort) travels across voices, but it cannot tell anger from
joy or fear (DESIGN.md §10); what is *said* can. :class:`WordValence` scores each final
utterance with VADER (Hutto & Gilbert 2014; the MIT-licensed ``vaderSentiment`` package, which
ships its lexicon: a rule-and-lexicon model with negation, intensifiers, "but" and capitals,
about 0.05 ms a sentence) and turns a clearly negative or clearly positive utterance into a cue
of source ``words``:

* ``words:negative`` — compound ≤ −``negative_from``: weight
  ``negative_weight · (−compound − negative_from) / (1 − negative_from)`` (0 … ``negative_weight``);
* ``words:positive`` — compound ≥ ``positive_from``: weight
  ``−positive_weight · (compound − positive_from) / (1 − positive_from)``.

Describing a problem ("the order was damaged", compound −0.44) is mildly negative on every call,
so the negative cue is deliberately small: it is one part of the words' evidence, beside the
domain lexicon's phrases in context (:mod:`voicemon.escalation.text_cues`). The meter uses the
speaker's own word cues as the *valence* that gates the voice (see ``[fusion.v3]`` in
``models/meter.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from voicemon.errors import ModelUnavailableError
from voicemon.events import Cue, TranscriptUpdate


@dataclass(frozen=True)
class ValenceParams:
    """Thresholds and weights of the word-valence cues (logit units).

    Attributes:
        negative_from: |compound| from which an utterance counts as negative.
        negative_weight: weight of a fully negative utterance (compound −1).
        positive_from: compound from which an utterance counts as positive.
        positive_weight: weight (as a positive number; the cue is de-escalating) of compound +1.
        min_words: shorter utterances ("no", "okay") carry no valence cue.
    """

    negative_from: float = 0.3
    negative_weight: float = 0.8
    positive_from: float = 0.4
    positive_weight: float = 0.8
    min_words: int = 3


@lru_cache(maxsize=1)
def sentiment_analyzer() -> Any:
    """The VADER analyzer (its lexicon is read once per process).

    Raises:
        ModelUnavailableError: ``vaderSentiment`` is not installed.
    """
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as exc:  # pragma: no cover - it is a core dependency
        raise ModelUnavailableError("the word-valence model needs the vaderSentiment package (pip install vaderSentiment)") from exc
    return SentimentIntensityAnalyzer()


class WordValence:
    """Score final utterances; a synchronous stage.

    Args:
        params: thresholds and weights.
        analyzer: a VADER ``SentimentIntensityAnalyzer`` (default: :func:`sentiment_analyzer`).
    """

    def __init__(self, params: ValenceParams | None = None, analyzer: Any = None) -> None:
        self.params = params or ValenceParams()
        self._analyzer = analyzer or sentiment_analyzer()

    def compound(self, text: str) -> float:
        """VADER's compound score of a sentence, −1 (negative) … +1 (positive)."""
        return float(self._analyzer.polarity_scores(text)["compound"])

    def feed(self, update: TranscriptUpdate) -> list[Cue]:
        """The valence cue of one utterance (none for tentative text or neutral words)."""
        if not update.final or len(update.words) < self.params.min_words:
            return []
        p = self.params
        text = update.text.strip()
        c = self.compound(text)
        if c <= -p.negative_from:
            kind, weight = "negative", p.negative_weight * (-c - p.negative_from) / (1.0 - p.negative_from)
        elif c >= p.positive_from:
            kind, weight = "positive", -p.positive_weight * (c - p.positive_from) / (1.0 - p.positive_from)
        else:
            return []
        if abs(weight) < 0.01:
            return []
        evidence = text if len(text) <= 80 else text[:77] + "…"
        return [Cue(t=update.words[0].start, role=update.role, kind=kind, weight=round(weight, 3),
                    evidence=f"{evidence} (sentiment {c:+.2f})", source="words", target=update.role)]
