"""``--redact-audio``: a copy of the call's audio with every redacted span muted.

The redactor turns each PII span into one placeholder word (``[CARD]``) whose ``start``/``end``
are those of the first and last word it replaced (:mod:`voicemon.redact.stage`), so the same
decisions that cleaned the transcript say where the audio holds the entity. The copy has the
source's sample rate and channels; each span, widened by ``pad_s`` on both sides (word
timestamps are approximate), is set to digital silence on *every* channel — on a two-channel
call the other party's line can carry the digits too (echo, a speaker phone). Nothing else is
changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicemon.redact.stage import PLACEHOLDERS


@dataclass(frozen=True)
class MutedSpan:
    """One muted stretch of the call, in seconds of media time."""

    start_s: float
    end_s: float
    label: str
    role: str


def redacted_spans(events: list[dict]) -> list[MutedSpan]:
    """The placeholder words of the final transcripts of an event log, in time order."""
    spans = []
    for e in events:
        if e.get("type") != "transcript" or not e.get("final"):
            continue
        for w in e.get("words") or ():
            label = PLACEHOLDERS.get(w["text"])
            if label:
                spans.append(MutedSpan(float(w["start"]), float(w["end"]), label, e.get("role", "")))
    return sorted(spans, key=lambda s: (s.start_s, s.end_s))


def mute(data: np.ndarray, rate_hz: int, spans: list[MutedSpan], pad_s: float) -> tuple[np.ndarray, float]:
    """A copy of ``data`` (frames x channels) with each span, ``pad_s`` wider each side, zeroed.

    Returns:
        The muted copy and the seconds muted (overlaps counted once).
    """
    out = np.array(data, copy=True)
    mask = np.zeros(out.shape[0], dtype=bool)
    for span in spans:
        a = max(0, int(round((span.start_s - pad_s) * rate_hz)))
        b = min(out.shape[0], int(round((span.end_s + pad_s) * rate_hz)))
        if b > a:
            mask[a:b] = True
    out[mask] = 0
    return out, round(float(mask.sum()) / rate_hz, 3)


def write_redacted_audio(source: str | os.PathLike[str], events: list[dict], out_path: str | os.PathLike[str],
                         pad_ms: int = 150) -> dict:
    """Write ``out_path``: the call audio of ``source`` with its redacted spans muted.

    Args:
        source: the call recording that was analysed.
        events: its event log (dicts, as in the report's ``events``).
        out_path: where to write (a 16-bit PCM WAV at the source's rate and channels).
        pad_ms: silence added either side of each span.

    Returns:
        ``{"path", "spans", "muted_s"}`` for the report.

    Raises:
        AudioFormatError: the source cannot be read.
    """
    import soundfile as sf

    from voicemon.audio.decode import read_samples

    data, rate, _fmt = read_samples(Path(source))
    spans = redacted_spans(events)
    muted, seconds = mute(data, rate, spans, pad_ms / 1000.0)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    sf.write(str(tmp), np.clip(muted, -1.0, 1.0), rate, subtype="PCM_16", format="WAV")
    os.replace(tmp, out)
    return {"path": str(out), "spans": len(spans), "muted_s": seconds}
