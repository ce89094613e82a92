"""Text cues: lexicon phrases found in the committed words of an utterance, read in context.

A phrase counts only in context: a category marked ``negatable`` is skipped when a negator
("not", "never", "no", any "n't" word) stands in the three words before it ("I'm not angry"), and
a match that overlaps one of the category's ``unless`` phrases is skipped ("my flight was
cancelled" is not a threat to cancel). An escalating phrase right after an intensifier
("extremely frustrated", "so sick of") counts :data:`BOOST_FACTOR` times its weight; the
intensifiers are VADER's booster words (Hutto & Gilbert 2014).

With ``fuzzy`` on, a category marked ``fuzzy`` in the lexicon also matches its multi-word phrases
with one misheard word ("you need to come down") or one short word inserted ("bear it with
me"), see :mod:`voicemon.escalation.fuzzy_phrases`; the same context rules apply, the cue
counts :data:`FUZZY_WEIGHT_FACTOR` of the category's weight, and its evidence says what was
heard and which phrase it stands for.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from voicemon.errors import ConfigError
from voicemon.escalation.fuzzy_phrases import fuzzy_matches
from voicemon.events import Cue, TranscriptUpdate, Word

_STRIP = re.compile(r"[^\w']+")


@dataclass(frozen=True)
class CueCategory:
    """One lexicon category.

    Attributes:
        kind: the category name, used as the cue's ``kind``.
        speaker: ``customer``, ``agent`` or ``any``.
        target: ``self`` or ``customer``.
        weight: logit units; negative de-escalates.
        patterns: compiled phrase patterns.
        phrases: the phrases as written.
    """

    kind: str
    speaker: str
    target: str
    weight: float
    patterns: tuple[re.Pattern[str], ...]
    phrases: tuple[str, ...]
    negatable: bool = False
    unless: tuple[re.Pattern[str], ...] = ()
    fuzzy: bool = False


NEGATORS = frozenset({"not", "never", "no", "nothing", "hardly", "without", "nor"})
NEGATION_WINDOW_WORDS = 3
"""A negator this many words or fewer before a phrase negates it."""
BOOST_FACTOR = 1.3
"""Weight factor of an escalating phrase right after an intensifier."""
BOOST_WINDOW_WORDS = 2
"""An intensifier this many words or fewer before a phrase boosts it."""
FUZZY_WEIGHT_FACTOR = 0.5
"""A phrase heard with one word wrong is evidence, not proof: its cue fires (and so does the
prompt it drives) but moves the meter half as much."""


def _boosters() -> frozenset[str]:
    try:
        from vaderSentiment.vaderSentiment import BOOSTER_DICT
    except ImportError:  # pragma: no cover - vaderSentiment is a core dependency
        return frozenset({"extremely", "really", "so", "very", "totally", "absolutely", "completely", "utterly"})
    return frozenset(k for k, v in BOOSTER_DICT.items() if v > 0 and " " not in k)


BOOSTERS = _boosters()


def _compile(phrase: str) -> re.Pattern[str]:
    parts = []
    for token in phrase.split():
        base = " ".join(re.escape(w) for w in _normalise(token.rstrip("*")).split())
        parts.append(base + (r"[\w']*" if token.endswith("*") else ""))
    return re.compile(r"(?<![\w'])" + r" ".join(parts) + r"(?![\w'])")


def _normalise(text: str) -> str:
    return " ".join(_STRIP.sub(" ", text.lower().replace("’", "'")).split())


def load_lexicon(path: str | None = None) -> dict[str, CueCategory]:
    """Read a lexicon TOML (default: the bundled ``models/lexicon.toml``).

    Raises:
        ConfigError: the file is missing or malformed.
    """
    try:
        if path is None:
            raw = resources.files("voicemon.models").joinpath("lexicon.toml").read_bytes()
        else:
            raw = Path(path).read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read lexicon {path or 'bundled lexicon.toml'}: {exc}") from exc
    out: dict[str, CueCategory] = {}
    for kind, spec in data.items():
        try:
            speaker = spec.get("speaker", "any")
            target = spec.get("target", "self")
            if speaker not in ("customer", "agent", "any") or target not in ("self", "customer"):
                raise ValueError(f"speaker/target {speaker}/{target}")
            phrases = tuple(str(p) for p in spec["phrases"])
            out[kind] = CueCategory(
                kind=kind, speaker=speaker, target=target, weight=float(spec["weight"]),
                patterns=tuple(_compile(p) for p in phrases), phrases=phrases,
                negatable=_flag(spec.get("negatable", False)),
                fuzzy=_flag(spec.get("fuzzy", False), "fuzzy"),
                unless=tuple(_compile(p) for p in _phrase_list(spec.get("unless", []))),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"lexicon category [{kind}] is malformed: {exc}") from exc
    return out


class TextCueDetector:
    """Find lexicon cues in final transcript updates; a synchronous stage.

    Args:
        lexicon: categories from :func:`load_lexicon`.
        fuzzy: also match the phrases of ``fuzzy`` categories with one misheard word.
    """

    def __init__(self, lexicon: dict[str, CueCategory], fuzzy: bool = False) -> None:
        self.lexicon = lexicon
        self.fuzzy = fuzzy

    def feed(self, update: TranscriptUpdate) -> list[Cue]:
        """Cues in one utterance (only final updates produce cues).

        Returns:
            One cue per matched phrase, stamped at the first matched word, in time order.
        """
        if not update.final or not update.words:
            return []
        tokens = [_normalise(w.text) for w in update.words]
        text, starts = _index(tokens)
        flat: list[tuple[int, int, str, float]] | None = None  # (char start, char end, word, probability)
        cues: list[Cue] = []
        for cat in self.lexicon.values():
            if update.role != "mixed" and cat.speaker not in ("any", update.role):
                continue
            taken: list[tuple[int, int]] = []
            blocked = [(u.start(), u.end()) for pattern in cat.unless for u in pattern.finditer(text)]
            for pattern in cat.patterns:
                for m in pattern.finditer(text):
                    if any(m.start() < b and a < m.end() for a, b in taken + blocked):
                        continue
                    if cat.negatable and _negated(text, m.start()):
                        continue
                    taken.append((m.start(), m.end()))
                    word = _word_at(update.words, starts, m.start())
                    target = update.role if cat.target == "self" or update.role == "mixed" else cat.target
                    weight, evidence = cat.weight, m.group(0)
                    booster = _booster(text, m.start()) if cat.weight > 0 else None
                    if booster:
                        weight, evidence = round(cat.weight * BOOST_FACTOR, 3), f"{booster} {evidence}"
                    cues.append(Cue(t=word.start, role=update.role, kind=cat.kind, weight=weight,
                                    evidence=evidence, source="text", target=target))
                    break
            if self.fuzzy and cat.fuzzy:
                if flat is None:
                    flat = _flat_words(text, starts, update.words)
                cues.extend(self._fuzzy(cat, update, text, starts, flat, taken + blocked))
        cues.sort(key=lambda c: c.t)
        return cues

    def _fuzzy(self, cat: CueCategory, update: TranscriptUpdate, text: str, starts: list[int],
               flat: list[tuple[int, int, str, float]], taken: list[tuple[int, int]]) -> list[Cue]:
        """Cues of ``cat``'s phrases heard with one word wrong (outside the ``taken`` spans)."""
        cues: list[Cue] = []
        words, probs = [f[2] for f in flat], [f[3] for f in flat]
        for phrase in cat.phrases:
            norm = " ".join(_normalise(w.rstrip("*")) + ("*" if w.endswith("*") else "") for w in phrase.split())
            for m in fuzzy_matches(words, probs, norm):
                a, b = flat[m.first][0], flat[m.end - 1][1]
                if any(a < y and x < b for x, y in taken):
                    continue
                if cat.negatable and _negated(text, a):
                    continue
                taken.append((a, b))
                word = _word_at(update.words, starts, a)
                target = update.role if cat.target == "self" or update.role == "mixed" else cat.target
                cues.append(Cue(t=word.start, role=update.role, kind=cat.kind,
                                weight=round(cat.weight * FUZZY_WEIGHT_FACTOR, 3),
                                evidence=f"{text[a:b]} (≈ {phrase})", source="text", target=target))
                break
        return cues


def _flag(value: object, name: str = "negatable") -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value


def _phrase_list(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip() for p in value):
        raise ValueError(f"unless must be a list of phrases, not {value!r}")
    return value


def _booster(text: str, start: int) -> str | None:
    """The intensifier among the few words before character ``start``, if any."""
    before = text[:start].split()[-BOOST_WINDOW_WORDS:]
    return next((w for w in reversed(before) if w in BOOSTERS), None)


def _negated(text: str, start: int) -> bool:
    """Whether a negator stands in the few words before character ``start``."""
    before = text[:start].split()[-NEGATION_WINDOW_WORDS:]
    return any(w in NEGATORS or w.endswith("n't") for w in before)


def _index(tokens: list[str]) -> tuple[str, list[int]]:
    starts: list[int] = []
    pos = 0
    parts: list[str] = []
    for tok in tokens:
        starts.append(pos)
        parts.append(tok)
        pos += len(tok) + 1
    return " ".join(parts), starts


def _flat_words(text: str, starts: list[int], words: tuple[Word, ...]) -> list[tuple[int, int, str, float]]:
    """Each single word of the normalised text with its character span and the probability of
    the Whisper word it came from ("one...one" is two words of one Whisper word)."""
    out = []
    for m in re.finditer(r"\S+", text):
        out.append((m.start(), m.end(), m.group(0), _word_at(words, starts, m.start()).probability))
    return out


def _word_at(words: tuple[Word, ...], starts: list[int], char: int) -> Word:
    index = 0
    for i, s in enumerate(starts):
        if s <= char:
            index = i
    return words[index]
