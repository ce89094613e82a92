"""Whisper repetition loops: find them in an utterance's words and cut them out.

With temperature fallback off (voicemon decodes greedily, for determinism), Whisper sometimes
gets stuck repeating one token or phrase until its token budget runs out: "Um. Um. Um." a hundred
times, "4 -1 -1 -1 ..." for a card read digit by digit, "X -I -R -E -E -E ...". Real speech
repeats too ("one one one one" in 4111 1111 ...; "no, no, no"), so repetition alone is not the
test. What a loop cannot fake is *time*: a hundred words fill a few seconds of audio, so the
stretch runs far faster than anyone speaks, and its gzip compression ratio (Whisper's own
``compression_ratio`` test, threshold 2.4) is far above that of speech.

:func:`find_loops` returns the looping stretches; :func:`cut_loops` keeps one copy of the
repeated unit of each. Both are pure and deterministic.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from voicemon.events import Word

MAX_UNIT_WORDS = 4
MIN_REPEATS = 4
MAX_WORDS_PER_S = 6.0
"""Faster than this over a repeated stretch is not speech (fast reading of digits is ~3/s)."""
MIN_LOOP_WORDS = 12
"""Repetition shorter than this is left alone, however fast its word times say it was."""
MAX_COMPRESSION_RATIO = 2.4


def compression_ratio(text: str) -> float:
    """Whisper's repetitiveness measure: bytes of ``text`` over bytes of it zlib-compressed."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _norm(text: str) -> str:
    return text.strip().strip(".,;:!?\"'").lstrip("-").lower()


@dataclass(frozen=True)
class Loop:
    """Words ``[first, end)`` repeat a unit of ``unit`` words ``repeats`` times."""

    first: int
    end: int
    unit: int

    @property
    def repeats(self) -> int:
        """How many copies of the unit the stretch holds."""
        return (self.end - self.first) // self.unit


def repeated_stretches(words: list[Word], min_repeats: int = MIN_REPEATS) -> list[Loop]:
    """Maximal stretches where a unit of 1..4 words repeats at least ``min_repeats`` times in a row."""
    keys = [_norm(w.text) for w in words]
    out: list[Loop] = []
    i = 0
    while i < len(keys):
        best: Loop | None = None
        for unit in range(1, MAX_UNIT_WORDS + 1):
            j = i + unit
            while j + unit <= len(keys) and keys[j:j + unit] == keys[i:i + unit]:
                j += unit
            if (j - i) // unit >= min_repeats and (best is None or j - i > best.end - best.first):
                best = Loop(i, j, unit)
        if best is not None:
            out.append(best)
            i = best.end
        else:
            i += 1
    return out


def find_loops(words: list[Word]) -> list[Loop]:
    """The repeated stretches of ``words`` that are decoding loops, not speech.

    A stretch is a loop when it has at least ``MIN_LOOP_WORDS`` words, and either runs faster
    than ``MAX_WORDS_PER_S`` over its word times or its text compresses more than Whisper's
    ``MAX_COMPRESSION_RATIO`` *and* it is longer than the utterance's audio allows at that rate.
    """
    loops = []
    for s in repeated_stretches(words):
        n = s.end - s.first
        if n < MIN_LOOP_WORDS:
            continue
        span_s = max(words[s.end - 1].end - words[s.first].start, 1e-3)
        text = " ".join(w.text for w in words[s.first:s.end])
        total_s = max(words[-1].end - words[0].start, 1e-3)
        if n / span_s > MAX_WORDS_PER_S or (compression_ratio(text) > MAX_COMPRESSION_RATIO
                                            and n > MAX_WORDS_PER_S * total_s):
            loops.append(s)
    return loops


def cut_loops(words: list[Word], loops: list[Loop] | None = None) -> list[Word]:
    """``words`` with each loop reduced to one copy of its unit (the words after it are kept)."""
    loops = find_loops(words) if loops is None else loops
    out: list[Word] = []
    i = 0
    for loop in loops:
        out.extend(words[i:loop.first + loop.unit])
        i = loop.end
    out.extend(words[i:])
    return out
