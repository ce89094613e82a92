"""Lexicon phrases found despite one misheard word: a small phonetic matcher over word sequences.

tiny.en on phone audio hears "you need to calm down" as "you need to come down", "close my
account" as "clone my account", "bear with me" as "bear it with me". :func:`fuzzy_matches` finds
a multi-word lexicon phrase in an utterance's words when

* every phrase word but one is heard exactly, and the one left over sounds like the heard word
  (their :func:`phonetic` codes — a reduced Metaphone — are equal or differ only in the last
  sound), or every phrase word is heard exactly with one short word (≤ 3 letters)
  inserted among them ("bear *it* with me");
* Whisper was unsure of the word that differs: its probability is below
  :data:`MAX_DIFFERING_PROBABILITY` (a confidently heard "come down" stays "come down");
* the phrase has at least two words and the exactly heard ones hold at least one word of four
  letters or more (two short words and a sound-alike prove nothing).

Pure and deterministic: the same words always give the same matches, so offline analysis and a
lockstep replay still agree. The false-match check on civil speech is in
``benchmarks/transcripts.py`` (key phrases).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

MAX_DIFFERING_PROBABILITY = 0.9
MAX_INSERTED_LETTERS = 3
MIN_ANCHOR_LETTERS = 4

_VOWELS = set("aeiou")
_RULES = (
    (re.compile(r"^(kn|gn|pn)"), "n"), (re.compile(r"^wr"), "r"), (re.compile(r"^ps"), "s"),
    (re.compile(r"^x"), "s"), (re.compile(r"tch"), "ch"), (re.compile(r"sch"), "sk"),
    (re.compile(r"ph"), "f"), (re.compile(r"(?<=.)gh"), ""), (re.compile(r"ck"), "k"),
    (re.compile(r"(?<=a)l(?=[mkf])"), ""),  # calm, walk, half
    (re.compile(r"sh"), "X"), (re.compile(r"ch"), "X"), (re.compile(r"th"), "0"), (re.compile(r"wh"), "w"),
    (re.compile(r"qu"), "kw"), (re.compile(r"q"), "k"), (re.compile(r"dg"), "j"),
    (re.compile(r"c(?=[eiy])"), "s"), (re.compile(r"c"), "k"), (re.compile(r"g(?=[eiy])"), "j"),
    (re.compile(r"x"), "ks"), (re.compile(r"z"), "s"), (re.compile(r"v"), "f"),
    (re.compile(r"(?<=[^aeiou])h|h(?=[^aeiou]|$)"), ""),
    (re.compile(r"[wy](?=[^aeiou]|$)"), ""),
)


def phonetic(word: str) -> str:
    """A reduced Metaphone code: consonant sounds in order, a leading vowel as ``A``.

    ``phonetic("calm") == phonetic("come") == "KM"``; ``phonetic("hold") == "HLT"``.
    """
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return ""
    for pattern, repl in _RULES:
        w = pattern.sub(repl, w)
    out = "A" if w[0] in _VOWELS else ""
    for ch in w:
        if ch in _VOWELS:
            continue
        ch = "T" if ch == "d" else ch.upper()
        if not out or out[-1] != ch:
            out += ch
    return out


def _edits(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def sounds_close(heard: str, said: str) -> bool:
    """A looser :func:`sounds_like` for where a false match costs little (the redactor's
    keywords): the same first sound and codes at most one edit apart ("current"/"card")."""
    a, b = phonetic(heard), phonetic(said)
    return bool(a and b and a[0] == b[0] and max(len(a), len(b)) >= 2 and _edits(a, b) <= 1)


def sounds_like(heard: str, said: str) -> bool:
    """Whether two words sound alike: the same :func:`phonetic` code, or codes of two sounds or
    more that differ only in their last sound (one changed, added or dropped: "clone"/"close",
    "hole"/"hold"). A difference earlier in the word is another word ("doing"/"telling")."""
    a, b = phonetic(heard), phonetic(said)
    if not a or not b:
        return False
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    if len(short) < 2 or len(long_) - len(short) > 1:
        return False
    return short[:-1] == long_[:-1] if len(short) == len(long_) else long_[:-1] == short


def _word_ok(heard: str, said: str) -> bool:
    if said.endswith("*"):
        return heard.startswith(said[:-1])
    return heard == said


@dataclass(frozen=True)
class FuzzyMatch:
    """Heard words ``[first, end)`` match ``phrase``; ``differs`` is the index of the heard word
    that is not the phrase's (``None`` for an inserted word, see ``inserted``)."""

    first: int
    end: int
    phrase: str
    differs: int | None = None
    inserted: int | None = None


def fuzzy_matches(tokens: list[str], probabilities: list[float], phrase: str,
                  alike: Callable[[str, str], bool] = sounds_like) -> list[FuzzyMatch]:
    """Places where ``phrase`` was heard with one word misheard or one short word inserted.

    Args:
        tokens: the utterance's normalised words (lower case, punctuation stripped).
        probabilities: Whisper's probability of each word.
        phrase: a lexicon phrase (words separated by spaces, ``*`` = any ending).
        alike: when a heard word stands for a phrase word (default :func:`sounds_like`).

    Returns:
        Non-overlapping matches in order (exact matches are not returned).
    """
    said = phrase.split()
    k = len(said)
    if k < 2:
        return []
    out: list[FuzzyMatch] = []
    i = 0
    while i < len(tokens):
        match = _substitution(tokens, probabilities, said, i, alike) or _insertion(tokens, probabilities, said, i)
        if match is not None:
            out.append(FuzzyMatch(i, match[0], phrase, *match[1:]))
            i = match[0]
        else:
            i += 1
    return out


def _anchor_ok(words: list[str]) -> bool:
    return any(len(w.rstrip("*")) >= MIN_ANCHOR_LETTERS for w in words)


def _substitution(tokens: list[str], probabilities: list[float], said: list[str], i: int,
                  alike: Callable[[str, str], bool]) -> tuple[int, int | None, int | None] | None:
    k = len(said)
    if i + k > len(tokens):
        return None
    window = tokens[i:i + k]
    wrong = [j for j in range(k) if not _word_ok(window[j], said[j])]
    if len(wrong) != 1:
        return None
    j = wrong[0]
    if said[j].endswith("*") or probabilities[i + j] >= MAX_DIFFERING_PROBABILITY:
        return None
    if not alike(window[j], said[j]) or not _anchor_ok([w for n, w in enumerate(said) if n != j]):
        return None
    return i + k, i + j, None


def _insertion(tokens: list[str], probabilities: list[float], said: list[str], i: int) -> tuple[int, int | None, int | None] | None:
    k = len(said)
    if i + k + 1 > len(tokens) or not _word_ok(tokens[i], said[0]):
        return None
    window = tokens[i:i + k + 1]
    for extra in range(1, k):
        rest = window[:extra] + window[extra + 1:]
        if (all(_word_ok(h, s) for h, s in zip(rest, said)) and len(window[extra]) <= MAX_INSERTED_LETTERS
                and probabilities[i + extra] < MAX_DIFFERING_PROBABILITY and _anchor_ok(said)):
            return i + k + 1, None, i + extra
    return None
