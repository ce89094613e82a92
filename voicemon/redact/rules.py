"""Pattern-and-checksum rules that find PII in a list of words (docs/redaction.md).

Every rule works on what Whisper wrote, after spoken-digit normalisation
(:mod:`voicemon.redact.spoken`), and returns word spans with a label:

* ``CARD`` — 13–19 digits that pass the Luhn check (any context), or a long digit run after a
  card keyword ("card", "visa", ...): ASR often drops or mishears one digit, which breaks the
  checksum, and a card read out after "my card number is" is a card either way.
* ``CVV``, ``EXPIRY`` — 3–6 digits after their keywords, or after a card (or its CVV or expiry):
  a date (MMYY, MMYYYY, a month name or "slash" before the digits) is the expiry, other 3–4
  digits the CVV (:func:`_payment_label`).
* ``SSN`` — 9 digits after "social"/"SSN", or any valid-looking 9-digit number.
* ``PHONE`` — 7–15 digits after a phone keyword, or any 10-digit (11 with a leading 1 or 0).
* ``ACCOUNT``, ``ROUTING``, ``PIN`` — digit runs after their keywords.
* ``EMAIL`` — written addresses and spoken ones: "john dot smith at gmail dot com",
  "J -O -H -N at yahoo .com", "rob .milerevel .com" after "what's your e-mail?"
  (:mod:`voicemon.redact.email_rule`).
* ``NUMBER`` — any other run of ``min_number_digits`` digits or more (an identifier of some kind).

A run that reaches the end of an utterance is held to shorter lengths (``trailing`` minimums):
the rest of the number may follow in the next utterance, and what was already sent cannot be
taken back.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicemon.redact.email_rule import email_spans
from voicemon.redact.span import TURN, Span
from voicemon.redact.spoken import DigitRun, clean, digit_runs

__all__ = ["LABELS", "TURN", "RuleOptions", "Span", "find_spans", "luhn_ok", "ssn_ok"]

LABELS = ("CARD", "CVV", "EXPIRY", "SSN", "PHONE", "EMAIL", "ACCOUNT", "ROUTING", "PIN", "NUMBER")
ENTITY_OF_LABEL = {label: label.lower() for label in LABELS}

KEYWORDS: dict[str, tuple[str, ...]] = {
    "card": ("card", "visa", "mastercard", "master card", "amex", "american express", "discover", "debit",
             "credit", "long number", "card number"),
    "cvv": ("cvv", "cvc", "cv2", "security code", "three digit", "three digits", "3 digit", "3 digits",
            "back of the card", "code on the back", "verification code", "cvv code"),
    "expiry": ("expiry", "expires", "expire", "expiration", "expiring", "exp", "valid through", "valid until",
               "good through", "good thru", "valid thru", "expiry date"),
    "ssn": ("social", "ssn", "social security", "social security number"),
    "phone": ("phone", "cell", "mobile", "contact", "contact number", "area code", "reach you", "call you on", "telephone", "landline", "call me", "reach me", "call back",
              "callback", "call you back", "text me", "phone number", "my number"),
    # "account" alone is too common ("can I get your SSN to verify the account?")
    "account": ("account number", "account no", "account is", "account ending", "acct", "bank account"),
    "routing": ("routing", "sort code", "aba", "transit number"),
    "pin": ("pin", "passcode", "pin number"),
}
_PHRASES = sorted(((tuple(p.split()), kind) for kind, ps in KEYWORDS.items() for p in ps),
                  key=lambda x: -len(x[0]))

# (min, max) digits of a run after each kind of keyword; with ``trailing`` the minimum drops to
# TRAILING_MIN because the rest may come in the next utterance.
CONTEXT_LENGTHS = {"card": (6, 19), "cvv": (3, 4), "expiry": (3, 6), "ssn": (7, 11), "phone": (7, 15),
                   "account": (4, 20), "routing": (8, 12), "pin": (4, 6)}
TRAILING_MIN = {"card": 4, "ssn": 3, "phone": 3, "account": 4, "routing": 4}
CARD_LENGTHS = (16, 15, 14, 13, 17, 18, 19)
CARD_FIRST_DIGITS = "23456"
NEAR_CARD_WORDS = 32
"""3-4 digits this many words after a card, or after its CVV or expiry, are its CVV or expiry: the
agent's question ("and the expiry date and the security code on the back?") usually stands
between them, and the caller gives the two together ("oh four twenty seven, and the code is ...")."""
CODE_PAIR_WORDS = 8
"""A 3-5 digit code (a CVV, perhaps with a digit too many) this many words after a date-shaped run:
the caller gives expiry and CVV together."""
DEBRIS_WORDS = 2
"""A run followed only by this many one-character words ("S", "-": what Whisper leaves where it
cut an utterance) still reaches the end of the utterance."""
READ_OUT_MIN_DIGITS = 4
READ_OUT_SHARE = 0.6
"""A trailing run of 4+ digits holding 60 % of its utterance's words is a number read out."""
SLASHES = {"slash", "/"}
MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}



@dataclass(frozen=True)
class RuleOptions:
    """What the rules look for (see :class:`voicemon.config.RedactOptions`)."""

    entities: frozenset[str] = frozenset(ENTITY_OF_LABEL.values())
    context_words: int = 10
    min_number_digits: int = 8
    trailing_min_digits: int = 6


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) checksum of payment card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def ssn_ok(digits: str) -> bool:
    """A 9-digit number that could be a US Social Security number (SSA's structural rules)."""
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return (len(digits) == 9 and area not in ("000", "666") and area[0] != "9"
            and group != "00" and serial != "0000")


def keyword_hits(words: list[str]) -> list[tuple[int, str]]:
    """``(index of the keyword's last word, kind)`` for every keyword phrase in ``words``.

    A keyword of two or more words also counts heard with one word as a sound-alike ("current
    number" for "card number", :func:`voicemon.escalation.fuzzy_phrases.fuzzy_matches` with the
    looser :func:`~voicemon.escalation.fuzzy_phrases.sounds_close`): the
    question that names a number is often what the recogniser gets wrong on a phone line, and
    a keyword only widens what a digit run next to it may be.
    """
    from voicemon.escalation.fuzzy_phrases import fuzzy_matches, sounds_close

    hits: list[tuple[int, str]] = []
    covered: set[int] = set()
    i = 0
    while i < len(words):
        for phrase, kind in _PHRASES:
            if tuple(words[i:i + len(phrase)]) == phrase:
                # "social security number" is an SSN, not a CVV's "security ..."
                hits.append((i + len(phrase) - 1, kind))
                covered.update(range(i, i + len(phrase)))
                i += len(phrase) - 1
                break
        i += 1
    unsure = [0.0] * len(words)
    for phrase, kind in _PHRASES:
        if len(phrase) < 2:
            continue
        for m in fuzzy_matches(words, unsure, " ".join(phrase), alike=sounds_close):
            if m.differs is not None and not covered.intersection(range(m.first, m.end)):
                hits.append((m.end - 1, kind))
                covered.update(range(m.first, m.end))
    return sorted(hits)


def _context(hits: list[tuple[int, str]], start: int, window: int) -> str | None:
    best = None
    for idx, kind in hits:
        if start - window <= idx < start:
            best = kind
    return best


def _card_window(run: DigitRun) -> tuple[int, int] | None:
    n = len(run.digits)
    for lo in range(0, n - 12):
        for length in CARD_LENGTHS:
            hi = lo + length
            if hi <= n and run.digits[lo] in CARD_FIRST_DIGITS and luhn_ok(run.digits[lo:hi]):
                return lo, hi
    return None


def expiry_shape(digits: str, plausible_year: bool = False) -> bool:
    """Digits that read as a card's expiry: MMYY, or MMYYYY in 20YY.

    Args:
        digits: the digit run.
        plausible_year: also require a year of 20-49 (MMYY).
    """
    if len(digits) == 4:
        return 1 <= int(digits[:2]) <= 12 and (not plausible_year or 20 <= int(digits[2:]) <= 49)
    return len(digits) == 6 and 1 <= int(digits[:2]) <= 12 and digits[2:4] == "20"


def _payment_label(run: DigitRun, kinds: set[str], near_card: bool, code_follows: bool,
                   words: list[str]) -> str | None:
    """``EXPIRY``, ``CVV`` or ``None`` for a run after a CVV or expiry question, or near a card.

    Only an expiry asked for: 3-6 digits are the expiry ("oh four twenty seven" as "-4 -27").
    A date is the expiry — a month name before 2-6 digits ("March 2020, 7"), two digits after
    "slash" ("oh nine slash twenty eight" with the month misheard), MMYYYY, or MMYY where no CVV
    was asked for; where one was, MMYY with a plausible year only when the expiry was asked for
    too or another 3-5 digit code follows (the caller answers "the expiry date and the security
    code" in one go, and a misheard "expiry" leaves only the CVV keyword): "the code is 1234"
    stays a CVV. Other 3-4 digits are the CVV.
    """
    n = len(run.digits)
    before = words[run.first_word - 1] if run.first_word > 0 else ""
    if "expiry" in kinds and "cvv" not in kinds and 3 <= n <= 6:
        return "EXPIRY"
    if "cvv" in kinds:
        mmyy = ("expiry" in kinds or code_follows) and expiry_shape(run.digits, plausible_year=True)
    else:
        mmyy = expiry_shape(run.digits)
    if mmyy or (n == 6 and expiry_shape(run.digits)) or (before in MONTHS and 2 <= n <= 6) or (
            before in SLASHES and n == 2):
        return "EXPIRY"
    if 3 <= n <= 4 and (kinds or near_card):
        return "CVV"
    return None


def _classify(run: DigitRun, ctx: str | None, kinds: set[str], near_card: bool, code_follows: bool,
              trailing: bool, opts: RuleOptions, words: list[str]) -> str | None:
    n = len(run.digits)
    if run.money:
        return None
    if ctx in ("cvv", "expiry") or near_card:
        label = _payment_label(run, kinds & {"cvv", "expiry"}, near_card, code_follows, words)
        if label is not None:
            return label
    if ctx is not None:
        lo, hi = CONTEXT_LENGTHS[ctx]
        if trailing:
            lo = min(lo, TRAILING_MIN.get(ctx, lo))
        if lo <= n <= hi:
            return ctx.upper()
    if n == 9 and ssn_ok(run.digits):
        return "SSN"
    if (n == 10 and run.digits[0] in "23456789") or (n == 11 and run.digits[0] in "10"):
        return "PHONE"
    if opts.min_number_digits and n >= opts.min_number_digits:
        return "NUMBER"
    if trailing and opts.trailing_min_digits and n >= opts.trailing_min_digits:
        return "NUMBER"
    return None


def _merge_gaps(runs: list[DigitRun], hits: list[tuple[int, str]], window: int) -> list[DigitRun]:
    """Join two runs that one misheard word splits ("5 5 5 Macon 2 1 2 ...") after a keyword."""
    out: list[DigitRun] = []
    for run in runs:
        prev = out[-1] if out else None
        ctx = _context(hits, prev.first_word, window) if prev is not None else None
        if (ctx in ("phone", "ssn", "account", "routing") and run.first_word - prev.last_word == 2
                and 2 <= len(prev.digits) < CONTEXT_LENGTHS[ctx][0] and len(run.digits) >= 2
                and len(prev.digits) + len(run.digits) <= CONTEXT_LENGTHS[ctx][1]):
            out[-1] = DigitRun(prev.digits + run.digits, prev.word_of + run.word_of, prev.first_word,
                               run.last_word, prev.money or run.money)
        else:
            out.append(run)
    return out


def number_spans(raw_words: list[str], opts: RuleOptions, trailing_from: int | None = None,
                 current_from: int = 0, card_before: bool = False) -> list[Span]:
    """Spans of digit-based entities.

    Args:
        raw_words: word texts as Whisper wrote them.
        opts: rule options.
        trailing_from: a run whose last word is at or after this index reaches the end of the
            utterance (``None``: no run does).
        current_from: index of the utterance's first word (the words before it are context).
        card_before: a card number was redacted shortly before these words (the redactor
            remembers it longer than it keeps words): 3-4 digits early in them are its
            CVV or expiry.
    """
    words = [clean(w) for w in raw_words]
    hits = keyword_hits(words)
    runs = _merge_gaps(digit_runs(raw_words), hits, opts.context_words)
    spans: list[Span] = []
    last_card_word = current_from - 1 if card_before else -10**9

    last_expiry_word = -1

    def add(run: DigitRun, ctx: str | None) -> None:
        nonlocal last_card_word, last_expiry_word
        trailing = trailing_from is not None and (
            run.last_word >= trailing_from
            or (len(raw_words) - 1 - run.last_word <= DEBRIS_WORDS
                and all(len(w) <= 1 and not w.isdigit() for w in words[run.last_word + 1:])))
        near_card = 0 <= run.first_word - last_card_word <= NEAR_CARD_WORDS
        asked = [(idx, kind) for idx, kind in hits if run.first_word - opts.context_words <= idx < run.first_word]
        # an expiry keyword names one expiry: the digits after the one already given are not another
        kinds = {kind for idx, kind in asked if kind != "expiry" or idx > last_expiry_word}
        code_follows = any(0 < r.first_word - run.last_word <= CODE_PAIR_WORDS and 3 <= len(r.digits) <= 5
                           and TURN not in words[run.last_word:r.first_word] for r in runs)
        label = _classify(run, ctx, kinds, near_card, code_follows, trailing, opts, words)
        own_words = run.last_word - max(run.first_word, current_from) + 1
        if (label is None and trailing and len(run.digits) >= READ_OUT_MIN_DIGITS
                and own_words >= READ_OUT_SHARE * (len(raw_words) - current_from)):
            label = "NUMBER"  # an utterance that is mostly digits is a number being read out
        if label is None:
            return
        first = run.first_word
        if label == "EXPIRY" and first > 0 and words[first - 1] in MONTHS | SLASHES:
            first -= 1
        spans.append(Span(first, run.last_word, label))
        if label in ("CARD", "CVV", "EXPIRY"):
            last_card_word = run.last_word
        if label == "EXPIRY":
            last_expiry_word = run.last_word

    for run in runs:
        ctx = _context(hits, run.first_word, opts.context_words)
        window = _card_window(run) if len(run.digits) >= 13 and not run.money else None
        if window is None:
            add(run, ctx)
            continue
        lo, hi = window
        if lo >= 3:
            add(run.sub(0, lo), ctx)
        spans.append(Span(run.word_of[lo], run.word_of[hi - 1], "CARD"))
        last_card_word = run.word_of[hi - 1]
        if hi < len(run.digits):
            add(run.sub(hi, len(run.digits)), None)
    return spans


def find_spans(raw_words: list[str], opts: RuleOptions, trailing_from: int | None = None,
               current_from: int = 0, card_before: bool = False) -> list[Span]:
    """Every PII span in ``raw_words``, sorted and without overlaps (the earlier/longer wins).

    See :func:`number_spans` for ``trailing_from`` and ``current_from``.
    """
    found = [s for s in number_spans(raw_words, opts, trailing_from, current_from, card_before)
             + email_spans(raw_words, opts.context_words, trailing_from)
             if ENTITY_OF_LABEL[s.label] in opts.entities]
    found.sort(key=lambda s: (s.first, -(s.last - s.first)))
    out: list[Span] = []
    for span in found:
        if out and span.first <= out[-1].last:
            if span.last > out[-1].last:
                out[-1] = Span(out[-1].first, span.last, out[-1].label)
            continue
        out.append(span)
    return out
