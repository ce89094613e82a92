"""The redaction stage: words of an utterance in, the same words with PII spans replaced out.

Synchronous, I/O-free and clock-free (DESIGN.md §1, §12). :class:`Redactor` runs inside
:meth:`voicemon.session.InterpretStages.feed_asr` before the transcript update is built, so
cues, valence, reports, the event log, the feed and logs only ever see redacted words —
tentative (interim) text included, since it is fed through the same method.

Each party keeps the last ``carry_words`` words of its previous *final* utterances (in memory
only, never emitted); every party's recent words are the context of the next utterance: a card
number split across two utterances is recognised from both halves, "my card number is" in one
utterance makes the digits of the next one a card, and so does the agent's "what's the card
number?" for the customer's answer.
It also remembers when it last redacted a card (not the words): 3–4 digits early in an
utterance up to ``carry_gap_s`` later are that card's CVV or expiry, however long the agent's
question for them was.
Interim text reads that context but never changes it, so the final text, and therefore the
offline and lockstep replay event logs, do not depend on which interim updates were made.
"""

from __future__ import annotations

from voicemon.config import RedactOptions
from voicemon.events import Word
from voicemon.redact.rules import LABELS, TURN, RuleOptions, Span, find_spans


def rule_options(options: RedactOptions) -> RuleOptions:
    """The rule options of a ``[redact]`` section."""
    return RuleOptions(entities=frozenset(options.entities), context_words=options.context_words,
                       min_number_digits=options.min_number_digits,
                       trailing_min_digits=options.trailing_min_digits)


def placeholder(label: str) -> str:
    """The text a redacted span reads as, e.g. ``[CARD]``."""
    return f"[{label}]"


PLACEHOLDERS = {placeholder(label): label for label in LABELS}


def replace_spans(words: list[Word], spans: list[Span]) -> list[Word]:
    """``words`` with each span's words merged into one placeholder word (times kept)."""
    out: list[Word] = []
    i = 0
    for span in spans:
        out.extend(words[i:span.first])
        part = words[span.first:span.last + 1]
        out.append(Word(start=part[0].start, end=part[-1].end, text=placeholder(span.label),
                        probability=min(w.probability for w in part)))
        i = span.last + 1
    out.extend(words[i:])
    return out


class Redactor:
    """Replaces PII in each utterance's words, per party, with context across utterances.

    Args:
        options: the ``[redact]`` options.
    """

    def __init__(self, options: RedactOptions) -> None:
        self.options = options
        self.rules = rule_options(options)
        self._carry: dict[str, list[Word]] = {}
        self._card_end_s: float | None = None  # end of the last final [CARD] span (any party)

    def feed(self, role: str, words: list[Word], final: bool = True) -> list[Word]:
        """Redact one utterance's words.

        Args:
            role: whose words they are.
            words: the utterance's words in order, media time.
            final: ``False`` for tentative text (does not update the carried context).

        Returns:
            The words with every PII span replaced by one placeholder word spanning its time.
        """
        if not self.options.enabled or not words:
            return list(words)
        carry = self._context(role, words[0].start)
        combined = carry + list(words)
        card_before = self._card_end_s is not None and 0 <= words[0].start - self._card_end_s <= self.options.carry_gap_s
        spans = find_spans([w.text for w in combined], self.rules, trailing_from=len(combined) - 1,
                           current_from=len(carry), card_before=card_before)
        n = len(carry)
        mine = [Span(max(s.first, n) - n, s.last - n, s.label) for s in spans if s.last >= n]
        if final and self.options.carry_words:
            own = [w for w in self._carry.get(role, []) if words[0].start - w.end <= self.options.carry_gap_s]
            self._carry[role] = (own + list(words))[-self.options.carry_words:]
        if final:
            ends = [words[s.last].end for s in mine if s.label == "CARD"]
            if ends:
                self._card_end_s = max(ends + [self._card_end_s or 0.0])
        return replace_spans(list(words), mine)

    def _context(self, role: str, start_s: float) -> list[Word]:
        """Recent final words of every party before ``start_s``, in time order, with a
        :data:`~voicemon.redact.rules.TURN` word wherever the speaker changes: the agent's
        "what's the card number?" names the digits the customer reads next."""
        recent = sorted(((w.start, r, i, w) for r, ws in self._carry.items() for i, w in enumerate(ws)
                         if start_s - w.end <= self.options.carry_gap_s and w.start < start_s),
                        key=lambda x: x[:3])
        out: list[Word] = []
        last_role = None
        for _, r, _, w in recent:
            if last_role is not None and r != last_role:
                out.append(Word(start=w.start, end=w.start, text=TURN))
            out.append(w)
            last_role = r
        if out and last_role != role:
            out.append(Word(start=out[-1].end, end=out[-1].end, text=TURN))
        return out


def redaction_counts(events: list[dict]) -> dict[str, int]:
    """Redacted spans per entity type in the final transcripts of an event log."""
    counts: dict[str, int] = {}
    for e in events:
        if e.get("type") == "transcript" and e.get("final"):
            for w in e.get("words") or ():
                label = PLACEHOLDERS.get(w["text"] if isinstance(w, dict) else w.text)
                if label:
                    counts[label.lower()] = counts.get(label.lower(), 0) + 1
    return dict(sorted(counts.items()))
