"""Word error rate between a reference and a hypothesis transcript."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9']+")


def normalise_words(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words, dropping punctuation.

    Args:
        text: Any transcript text.

    Returns:
        The words, apostrophes kept ("don't" stays one word).
    """
    return _WORD.findall(text.lower().replace("’", "'"))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein word error rate: (substitutions + deletions + insertions) / len(reference).

    Args:
        reference: What was said.
        hypothesis: What was transcribed.

    Returns:
        The WER; 0.0 when both are empty, 1.0 per inserted word when the reference is empty.
    """
    ref = normalise_words(reference)
    hyp = normalise_words(hypothesis)
    if not ref:
        return float(len(hyp))
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, hyp_word in enumerate(hyp, start=1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (ref_word != hyp_word),
            )
        previous = current
    return previous[-1] / len(ref)
