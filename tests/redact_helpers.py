"""Shared helpers of the redaction tests."""

from __future__ import annotations

from voicemon.redact.rules import RuleOptions, find_spans

OPTS = RuleOptions()


def redacted(text: str, trailing: bool = False) -> str:
    """``text`` with each span the rules find replaced by ``[LABEL]``."""
    words = text.split()
    spans = find_spans(words, OPTS, trailing_from=len(words) - 1 if trailing else None)
    out, i = [], 0
    for s in spans:
        out += words[i:s.first] + [f"[{s.label}]"]
        i = s.last + 1
    return " ".join(out + words[i:])
