"""The e-mail rule: written addresses, and spoken ones in the forms tiny.en writes them.

What a caller says ("john dot smith at gmail dot com", "J, O, H, N at yahoo dot com",
"peter underscore wells at hotmail dot co dot uk") reaches the redactor as Whisper wrote it.
Verbatim tiny.en output on espeak-ng speech (audio_fixtures/make_pii_fixtures.py):

* "Smit at gmail .com.", "Mike 72 at heartmail .co .uk." — "dot" written as a leading ".";
* "rob .milerevel .com", "a .joneas .gmail .com" — the "at" swallowed into a word;
* "an underscore king and outlook .com" — "at" heard as "and";
* "K -A -D -E, and I'll look not calm" — spelled letters, "dot com" heard as "not calm".

An address is anchored on its end, a top-level domain: "dot com", ".co .uk", "gmail.com" (every
TLD that follows is part of it). From there the rule reads backwards over the domain and the
local part — single letters, digits, number words, "dot"/"underscore"/"dash" links and Whisper's
"-X"/".X" pieces are free, at most :data:`MAX_DOMAIN_WORDS` and :data:`MAX_LOCAL_WORDS` other
words — across at most one "at", and stops at a stop word ("is", "my", "it's", ...), a turn
change or the start. What it read is an address:

* across "at" or "@", with a local part: anywhere;
* across "and" or "that" (tiny.en's "at" on a phone line), with a local part that has two or more
  letters, links or pieces: anywhere; otherwise in an e-mail context;
* with no "at" at all: only in an e-mail context — an e-mail keyword ("e-mail", "address",
  "spell", ...) within ``context_words`` words before it, the agent's question included;
* ending in a sound-alike of "dot com" ("not calm", "not net"): only in an e-mail context,
  across an "at" or a sound-alike of it, with a local part.

After a word that names an e-mail ("e-mail", "mail"; not "address" or "spell", which also
precede street addresses and surnames) two more forms count, because a pause can split an
address across utterances and what was sent cannot be taken back: three or more spelled
letters in a row ("K -A -T -E"), and a local part with a link that ends the utterance
("lisa dot green", "john dot smith at").

"at" and "dot" alone never make an address: "look at the bill", "I'm at home", "the dot next to
the total" have no top-level domain after them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voicemon.redact.span import TURN, Span
from voicemon.redact.spoken import TEENS, TENS, UNITS, clean

TLDS = ("com", "net", "org", "edu", "gov", "io", "co", "uk", "us", "ca", "info", "biz", "me", "de", "fr", "au", "ie",
        "nz", "in")
_TLD = "|".join(TLDS)
_WRITTEN = re.compile(r"[\w.+\-]+@[\w\-]+(\.[\w\-]+)+")
_DOMAIN_WORD = re.compile(rf"^[\w\-]+(\.[\w\-]+)*\.({_TLD})$")
"""A domain written as one word: "gmail.com", "heartmail.co.uk"."""
_TLD_WORD = re.compile(rf"^\.({_TLD})$")
"""Whisper's "dot com": ".com", ".uk"."""
DOTS = {"dot", "period", "point"}
DOT_SOUND_ALIKES = {"not", "dots", "dog"}
COM_SOUND_ALIKES = {"calm", "come", "comb", "con", "cam", "comm", "khan"}
LOOSE_TLDS = {"com", "net", "org"}
"""TLDs that count after a sound-alike of "dot" ("not net"); not "us", "me", "in" ("not me")."""
AT_WORDS = {"at", "@"}
AT_SOUND_ALIKES = {"and", "add", "had", "that"}
LINKS = {"dot", "underscore", "dash", "hyphen", "period", "point", "plus"}
MAIL_KEYWORDS = {"email", "e-mail", "emails", "e-mails", "email's", "e-mail's", "mail", "mails"}
"""Words that name an e-mail (Whisper's "e -mail" is "e" and "mail"): the context of the forms
that have no top-level domain (spelled letters, a local part ending an utterance)."""
KEYWORDS = MAIL_KEYWORDS | {"address", "addresses", "spell", "spelled", "spelt", "spelling"}
"""Words that make an e-mail context for an address that ends in a top-level domain."""
STOP = {"is", "it's", "its", "it", "my", "me", "that's", "thats", "that", "this", "was", "use", "send", "and", "or",
        "on", "us", "number", "try", "to", "you", "your", "the", "at", "sure", "yes", "yeah", "okay", "ok", "so",
        "um", "uh", "er", "erm", "hmm", "from", "with", "via", "by", "of", "in", "for", "just", "then", "please",
        "thanks", "here", "there", "i'm", "we", "they", "he", "she", "can", "could", "would", "will", "well", "like",
        "website", "site", "online", "page", "www", "work", "works", "worked", "working", "looking",
        "looked", "live", "lives", "living", "stay", "staying", "am", "are", "were", "been", "we're", "they're",
        "you're", "he's", "she's", "bought", "ordered", "order", "shop", "shopping", "arrive", "arrived", "found",
        TURN} | KEYWORDS
"""Words that end the local part read backwards ("my e-mail is | ...")."""
DOMAIN_FILLERS = {"the", "mail", "e-mail", "email"}
"""Stop words tolerated between "at" and the top-level domain ("at the Avu .com" for yahoo,
"at e -mail .com" for gmail)."""
NUMBER_WORDS = set(UNITS) | set(TEENS) | set(TENS) | {"oh", "double", "triple"}
MAX_LOCAL_WORDS = 3
MAX_DOMAIN_WORDS = 3
MAX_BARE_WORDS = 5
"""Plain words of an address read with no "at" at all."""
MAX_WORDS = 40
"""Words read back from one top-level domain, at most (spelled addresses are long)."""
MIN_SPELLED_LETTERS = 3


@dataclass(frozen=True)
class _Read:
    """What reading back from a top-level domain found."""

    start: int
    at: str | None  # "at", "like" (an "and" where "at" was) or None
    local_words: int
    local_marks: int  # letters, links and pieces in the local part


def _is_piece(word: str, raw: str) -> bool:
    """A word that says little on its own: a letter, digit, link or Whisper's "-X"/".X"."""
    return (len(word) == 1 or word in LINKS or word.isdigit() or word in NUMBER_WORDS
            or raw.lstrip().startswith(("-", ".")))


def _domain_ends(raw: list[str], words: list[str], loose: bool) -> list[tuple[int, int, bool]]:
    """``(first, last, sound_alike)`` word indices of every top-level domain group."""
    out: list[tuple[int, int, bool]] = []
    n = len(words)
    j = 0
    while j < n:
        token = raw[j].strip().rstrip(".,;:!?").lower()
        first, alike = None, False
        if _DOMAIN_WORD.match(token) or _TLD_WORD.match(token):
            first = j
        elif j > 0 and words[j] in TLDS and words[j - 1] in DOTS:
            first = j - 1
        elif loose and j > 0 and words[j] in COM_SOUND_ALIKES | LOOSE_TLDS and words[j - 1] in DOTS | DOT_SOUND_ALIKES:
            first, alike = j - 1, True
        if first is None:
            j += 1
            continue
        last = j
        while last + 1 < n:
            nxt = raw[last + 1].strip().rstrip(".,;:!?").lower()
            if _TLD_WORD.match(nxt):
                last += 1
            elif last + 2 < n and words[last + 1] in DOTS and words[last + 2] in TLDS:
                last += 2
            else:
                break
        out.append((first, last, alike))
        j = last + 1
    return out


def _read_back(raw: list[str], words: list[str], end: int) -> _Read:
    """Read the domain and local part backwards from the word before ``end``."""
    at: str | None = None
    domain_plain = local_plain = local_words = local_marks = 0
    start = end
    k = end - 1
    while k >= 0 and end - k <= MAX_WORDS:
        w = words[k]
        if at is None and w in AT_WORDS | AT_SOUND_ALIKES:
            at = "at" if w in AT_WORDS else "like"
            k -= 1
            continue
        if not w or w == TURN or (w in STOP and not (at is None and w in DOMAIN_FILLERS)):
            break
        piece = _is_piece(w, raw[k])
        if at is None:
            domain_plain += not piece
            if domain_plain > MAX_BARE_WORDS:
                break
        else:
            local_plain += not piece
            if local_plain > MAX_LOCAL_WORDS:
                break
            local_words += 1
            local_marks += piece and not w.isdigit()
        start = k
        k -= 1
    if at is not None and domain_plain > MAX_DOMAIN_WORDS:
        return _Read(start=end, at=None, local_words=0, local_marks=0)
    while start < end and words[start] in STOP:  # "the" tolerated before the domain, not at its start
        start += 1
    return _Read(start=start, at=at, local_words=local_words, local_marks=local_marks)


def _spelled_runs(words: list[str]) -> list[tuple[int, int]]:
    """``(first, last)`` of every run of :data:`MIN_SPELLED_LETTERS` or more single letters."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        j = i
        while j < len(words) and len(words[j]) == 1 and words[j].isalpha():
            j += 1
        if j - i >= MIN_SPELLED_LETTERS:
            out.append((i, j - 1))
        i = max(j, i + 1)
    return out


def _trailing_local_part(raw: list[str], words: list[str]) -> int | None:
    """First word of a local part with a link ("lisa dot green", "john dot smith at") that ends
    ``words``, or ``None``."""
    k = len(words) - 1
    ends_at = k >= 0 and words[k] in AT_WORDS
    k -= ends_at
    plain = links = 0
    start = None
    while k >= 0 and len(words) - k <= MAX_WORDS:
        w = words[k]
        if not w or w == TURN or w in STOP:
            break
        if _is_piece(w, raw[k]):
            links += w in LINKS or raw[k].lstrip().startswith(".")
        else:
            plain += 1
            if plain > MAX_LOCAL_WORDS:
                break
        start = k
        k -= 1
    if start is None or (not links and not ends_at) or len(words) - start - ends_at < 2:
        return None
    return start


def email_spans(raw_words: list[str], context_words: int = 10, trailing_from: int | None = None) -> list[Span]:
    """Spans of written and spoken e-mail addresses in ``raw_words`` (Whisper word texts).

    Args:
        raw_words: the words, possibly after context words and :data:`TURN` markers.
        context_words: an e-mail keyword this many words before an address makes its context.
        trailing_from: the words reach the end of an utterance at this index (``None``: they
            do not); a local part that ends them is redacted in an e-mail context.
    """
    words = [clean(w) for w in raw_words]
    keyword_at = [i for i, w in enumerate(words) if w in KEYWORDS]
    mail_at = [i for i in keyword_at if words[i] in MAIL_KEYWORDS]

    def in_context(start: int, named: list[int]) -> bool:
        return any(start - context_words <= i < start for i in named)

    spans = [Span(i, i, "EMAIL") for i, raw in enumerate(raw_words) if _WRITTEN.search(raw)]
    for first, last, alike in _domain_ends(raw_words, words, loose=bool(keyword_at)):
        read = _read_back(raw_words, words, first)
        context = in_context(read.start, keyword_at)
        if alike:
            ok = context and read.at is not None and read.local_words > 0
        elif read.at == "at":
            ok = read.local_words > 0
        elif read.at == "like" and read.local_words > 0:
            ok = context or read.local_marks >= 2
        else:
            ok = context and read.start < first
        if ok:
            spans.append(Span(read.start, last, "EMAIL"))
    if mail_at:
        spans += [Span(a, b, "EMAIL") for a, b in _spelled_runs(words) if in_context(a, mail_at)]
        if trailing_from is not None and len(words) - 1 >= trailing_from:
            start = _trailing_local_part(raw_words, words)
            if start is not None and in_context(start, mail_at):
                spans.append(Span(start, len(words) - 1, "EMAIL"))
    return spans
