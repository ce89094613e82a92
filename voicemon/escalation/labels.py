"""Human labels for the meter's contribution keys, grouped as the voice, the words and the
conversation, for reports and views (the keys themselves are documented in docs/meter.md)."""

from __future__ import annotations

from voicemon.escalation.meter import group_of

GROUP_LABELS = {"voice": "Voice", "words": "Words", "conversation": "Conversation", "bias": "Resting point"}

KEY_LABELS = {
    "bias": "resting point",
    "loudness": "louder than their normal",
    "pitch": "higher pitch than their normal",
    "pitch_range": "wider pitch range",
    "rate": "faster speech",
    "tilt": "brighter voice (more effort)",
    "hammarberg": "vocal effort (flatter spectrum)",
    "harmonicity": "harsher voice",
    "words:negative": "negative sentence",
    "words:positive": "positive sentence",
    "text:anger": "angry words",
    "text:profanity": "swearing",
    "text:insult": "insult aimed at the agent",
    "text:threat_cancel": "threat to cancel",
    "text:threat_escalate": "threat to escalate",
    "text:repetition": "repeating a complaint",
    "text:absolutes": "absolutes (never, every time)",
    "text:ultimatum": "ultimatum",
    "text:losing_control": "losing patience",
    "text:distress": "worried words",
    "text:calm_down": "agent said “calm down”",
    "text:policy": "agent cited policy",
    "text:flat_no": "agent said a flat no",
    "text:blame": "agent blamed the caller",
    "text:hold_request": "agent asked to hold",
    "text:apology": "agent apologised",
    "text:empathy": "agent showed empathy",
    "text:repeat_back": "agent repeated back",
    "text:offer": "agent offered a fix",
    "text:thanks": "thanks",
    "conversation:overtalk": "talking over each other",
    "conversation:dead_air": "dead air",
    "conversation:monologue": "long monologue",
}


def label_of(key: str) -> str:
    """A short human label for a contribution key (the key itself when unknown)."""
    return KEY_LABELS.get(key, key.split(":", 1)[-1].replace("_", " "))


def grouped(contributions: dict[str, float]) -> dict[str, list[tuple[str, str, float]]]:
    """Contributions by group: ``group -> [(key, label, value)]``, largest magnitude first."""
    out: dict[str, list[tuple[str, str, float]]] = {}
    for key, value in contributions.items():
        out.setdefault(group_of(key), []).append((key, label_of(key), float(value)))
    for items in out.values():
        items.sort(key=lambda kv: -abs(kv[2]))
    return out
