"""What a redaction rule returns: a span of words and its label."""

from __future__ import annotations

from dataclasses import dataclass

TURN = "<turn>"
"""A word that separates two parties' words in a context list (ends digit runs and e-mails)."""


@dataclass(frozen=True)
class Span:
    """Words ``first..last`` (inclusive) hold one PII entity."""

    first: int
    last: int
    label: str
