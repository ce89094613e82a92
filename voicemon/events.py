"""Every type that flows between voicemon's stages.

All events are frozen dataclasses stamped in *media time*: seconds since the start of the call.
Everything except :class:`AudioChunk` serialises to a JSON-ready dict with a ``type`` key
(:func:`to_dict`) and back (:func:`from_dict`). A live call's events leave it as
:class:`Envelope` objects (the event, its call, ``seq`` and wall time): its log, the hub and
the reports keep them typed, each is encoded to JSON once (:meth:`Envelope.json`) however many
watchers it goes to, and JSON read back (a log file, another server's stream) becomes an
:class:`Envelope` again through :meth:`Envelope.from_json`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Union

import numpy as np

from voicemon.errors import EventFormatError

SAMPLE_RATE_HZ = 16000
"""Internal sample rate of every :class:`AudioChunk`."""

PROTOCOL_VERSION = 1
"""The feed's protocol version: the ``v`` of every envelope and server message (docs/protocol.md)."""

LEVELS = ("calm", "tense", "heated", "critical")
LEVEL_RANK: dict[str, int] = {name: rank for rank, name in enumerate(LEVELS)}
"""The one ordering of the meter's levels, calm 0 … critical 3 (use :func:`level_rank`)."""


def level_rank(level: str) -> int:
    """0 (calm) … 3 (critical).

    Raises:
        ValueError: not a level name.
    """
    try:
        return LEVEL_RANK[level]
    except KeyError:
        raise ValueError(f"not a meter level: {level!r} (levels: {', '.join(LEVELS)})") from None


def caller_role(roles: Iterable[str] | None) -> str:
    """Whose meter the coach watches on a call with these roles: the customer on a two-party
    call, ``mixed`` on a one-channel call before its voices are told apart, else the first role.

    The one copy in Python; the browser pages keep theirs (``callerRole`` in ``web/agent.js``
    and ``web/wall.js``: JavaScript cannot import this) with the same order.
    """
    roles = list(roles or ())
    if "customer" in roles:
        return "customer"
    if "mixed" in roles:
        return "mixed"
    return roles[0] if roles else "customer"


@dataclass(frozen=True)
class AudioChunk:
    """A piece of one party's audio: float32 mono at 16 kHz.

    Attributes:
        samples: float32 samples in [-1, 1].
        start_sample: index of the first sample since the call started (16 kHz).
        role: ``agent``, ``customer`` or ``mixed``.
    """

    samples: np.ndarray
    start_sample: int
    role: str

    @property
    def t0(self) -> float:
        """Media time of the first sample, in seconds."""
        return self.start_sample / SAMPLE_RATE_HZ

    @property
    def t1(self) -> float:
        """Media time just after the last sample, in seconds."""
        return (self.start_sample + len(self.samples)) / SAMPLE_RATE_HZ


@dataclass(frozen=True)
class AsrJob:
    """One utterance of one party to transcribe; produced by a stage, run by the driver.

    Attributes:
        job_id: unique within the call.
        role: whose speech it is.
        utterance_id: the utterance the text belongs to.
        start_sample: index of ``samples[0]`` since the call started (16 kHz).
        samples: float32 16 kHz mono audio of the utterance.
        final: ``False`` for an interim (tentative) look at an utterance still in progress.
        speech_end_sample: where the speech itself ended, before the trailing pad the segmenter
            adds (``None``: at the last sample). Drivers measure transcript latency from it.
    """

    job_id: str
    role: str
    utterance_id: str
    start_sample: int
    samples: np.ndarray
    final: bool = True
    speech_end_sample: int | None = None

    @property
    def start_s(self) -> float:
        """Media time of the first sample."""
        return self.start_sample / SAMPLE_RATE_HZ

    @property
    def end_s(self) -> float:
        """Media time just after the last sample."""
        return (self.start_sample + len(self.samples)) / SAMPLE_RATE_HZ

    @property
    def speech_end_s(self) -> float:
        """Media time the utterance's speech ended (the audio less the segmenter's trailing pad)."""
        if self.speech_end_sample is None:
            return self.end_s
        return max(self.start_s, min(self.end_s, self.speech_end_sample / SAMPLE_RATE_HZ))

    @property
    def utterance_key(self) -> str:
        """The utterance this job is part of, the same for every part, interim or final.

        An utterance longer than the segmenter's cap is transcribed in parts (``agent-3``,
        ``agent-3.1``…); an interim look at any part belongs to the same utterance.
        """
        return self.utterance_id.split(".", 1)[0]

    def in_call_time(self, words: Iterable[Word]) -> list[Word]:
        """Words timed from this job's first sample (as the recogniser gives them), in call time."""
        offset_s = self.start_s
        return [Word(start=round(w.start + offset_s, 3), end=round(w.end + offset_s, 3), text=w.text,
                     probability=w.probability) for w in words]


@dataclass(frozen=True)
class SpeechStarted:
    """A party started talking (voice activity onset)."""

    t: float
    role: str


@dataclass(frozen=True)
class SpeechEnded:
    """A party stopped talking; ``start`` is when that stretch of speech began."""

    t: float
    role: str
    start: float


@dataclass(frozen=True)
class Word:
    """One recognised word with media-time bounds."""

    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class TranscriptUpdate:
    """Text of one utterance of one party.

    ``final`` updates never change once sent; tentative (interim) updates may be replaced by a
    later update with the same ``utterance_id``.
    """

    t: float
    role: str
    utterance_id: str
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    final: bool = True


@dataclass(frozen=True)
class ProsodyFrame:
    """Prosodic features of one party over ``[t0, t1]`` with z-scores against their baseline.

    ``z`` maps feature names to robust z-scores against the speaker's own baseline (or the
    population prior while ``baseline`` is ``"prior"``); ``z_prior`` gives the same features
    against the population prior alone, which the meter uses when a speaker's baseline may
    have learned anger (their words were already negative while it formed).
    """

    t: float
    role: str
    t0: float
    t1: float
    loudness_db: float
    pitch_hz: float | None
    pitch_range_st: float | None
    voiced_ratio: float
    rate_syl_s: float | None
    tilt_db: float | None
    z: dict[str, float] = field(default_factory=dict)
    baseline: str = "prior"
    z_prior: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Cue:
    """Evidence for (positive weight) or against (negative weight) escalation.

    ``role`` is who produced the cue; ``target`` is whose meter it moves (the agent's "calm down"
    moves the customer's meter).
    """

    t: float
    role: str
    kind: str
    weight: float
    evidence: str
    source: str = "text"
    target: str = ""

TREND_STEADY_PTS_PER_S = 0.5
"""A reading's ``trend`` (score points per second) within this of zero is *steady*; above it
*rising*, below minus it *falling* (5 points in 10 s). The one threshold of every view: the agent
view (``voicemon/web/agent.js``, checked by a test) and the terminal view."""


@dataclass(frozen=True)
class EscalationReading:
    """The meter for one party at time ``t``: score 0–100, a level and why.

    ``contributions`` are the logit terms (their sum is the unsmoothed logit); ``parts`` sums
    them by group (``voice``, ``words``, ``conversation``); ``notes`` say, in words, how the
    fusion treated the voice (damped by positive words, read against population priors, ...).
    """

    t: float
    role: str
    score: float
    level: str
    changed: bool
    contributions: dict[str, float] = field(default_factory=dict)
    trend: float = 0.0
    """Score points per second over the meter's ``trend_window_s`` (see :data:`TREND_STEADY_PTS_PER_S`)."""
    parts: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CoachingPrompt:
    """A short instruction to the agent, with the technique it applies and why it fired."""

    t: float
    id: str
    kind: str
    text: str
    technique: str
    priority: int
    reason: str
    expires_at: float


@dataclass(frozen=True)
class PromptAcknowledged:
    """The agent acknowledged (``acted``) or dismissed a coaching prompt."""

    t: float
    prompt_id: str
    action: str = "acknowledged"
    by: dict[str, Any] = field(default_factory=lambda: {"role": "agent", "agent_id": None})
    """Who acted: ``{"role": "agent", "agent_id": ...}`` (only agents' views may acknowledge)."""


@dataclass(frozen=True)
class AsrStatus:
    """The transcriber fell behind or recovered; the meter is unaffected."""

    t: float
    role: str
    state: str
    message: str


@dataclass(frozen=True)
class StageError:
    """A stage failed on some input; ``fatal`` errors end the call."""

    t: float
    stage: str
    message: str
    fatal: bool = False


@dataclass(frozen=True)
class CallStarted:
    """A live call began (first event of a served call)."""

    t: float
    roles: tuple[str, ...]
    source: str = ""
    agent_id: str | None = None
    agent_name: str | None = None
    queue: str | None = None
    customer_ref: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    """The call's metadata from its ``start`` (docs/protocol.md, *Call metadata*)."""


@dataclass(frozen=True)
class SpeakersChanged:
    """Which meters a one-channel call has from ``t`` on (docs/diarization.md).

    ``roles`` is ``["mixed"]`` (``state`` ``mixed``: one meter for both voices, until two
    voices are told apart) or ``["agent", "customer"]`` (``state`` ``split``). Earlier events
    keep the roles they had: history is never rewritten.
    """

    t: float
    roles: tuple[str, ...]
    state: str
    message: str


@dataclass(frozen=True)
class CallEnded:
    """A live call ended; ``summary`` has its duration, peak, prompts and report path."""

    t: float
    summary: dict[str, Any] = field(default_factory=dict)


Event = Union[
    CallStarted,
    CallEnded,
    SpeechStarted,
    SpeechEnded,
    TranscriptUpdate,
    ProsodyFrame,
    Cue,
    EscalationReading,
    CoachingPrompt,
    PromptAcknowledged,
    AsrStatus,
    StageError,
    SpeakersChanged,
]

TYPE_NAMES: dict[type, str] = {
    CallStarted: "call_started",
    CallEnded: "call_ended",
    SpeechStarted: "speech_started",
    SpeechEnded: "speech_ended",
    TranscriptUpdate: "transcript",
    ProsodyFrame: "prosody",
    Cue: "cue",
    EscalationReading: "reading",
    CoachingPrompt: "prompt",
    PromptAcknowledged: "prompt_ack",
    AsrStatus: "asr_status",
    StageError: "error",
    SpeakersChanged: "speakers",
}
"""Wire name of every event type (the ``type`` key of its dict)."""

TYPES: dict[str, type] = {name: cls for cls, name in TYPE_NAMES.items()}


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    return value


def to_dict(event: Event) -> dict[str, Any]:
    """Turn an event into a JSON-ready dict with a ``type`` key.

    Args:
        event: any event type of this module except :class:`AudioChunk`.

    Returns:
        A dict of plain JSON values; floats are rounded to 4 decimals.
    """
    out: dict[str, Any] = {"type": TYPE_NAMES[type(event)]}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if f.name == "words":
            value = [dataclasses.asdict(w) for w in value]
        out[f.name] = _round(value)
    return out


def from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from :func:`to_dict` output (unknown keys are ignored).

    Raises:
        EventFormatError: the ``type`` is unknown, or a field is missing or of the wrong shape.
    """
    cls = TYPES.get(data.get("type")) if isinstance(data.get("type"), str) else None
    if cls is None:
        raise EventFormatError(f"unknown event type {str(data.get('type'))[:40]!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    try:
        if cls is TranscriptUpdate:
            kwargs["words"] = tuple(Word(**w) for w in kwargs.get("words", ()))
        if cls in (CallStarted, SpeakersChanged):
            kwargs["roles"] = tuple(kwargs.get("roles", ()))
        if cls is EscalationReading:
            kwargs["notes"] = tuple(kwargs.get("notes", ()))
        return cls(**kwargs)
    except TypeError as exc:
        raise EventFormatError(f"a {data['type']} event with missing or unknown fields: {exc}") from None


@dataclass(frozen=True)
class Envelope:
    """One event of a live call as its log keeps it and the feed sends it (docs/protocol.md).

    On the wire an envelope is the event's own dict (:func:`to_dict`) followed by ``v``,
    ``call_id``, ``seq`` (1, 2, … per call) and ``wall`` (Unix time it was emitted, to the
    millisecond). Make one with :meth:`of` (from an event just emitted: its values are rounded
    as the wire rounds them, so an envelope read back from JSON equals the one that was sent) or
    :meth:`from_dict` / :meth:`from_json` (from JSON that comes back in).

    Attributes:
        event: the event.
        call_id: the call it belongs to.
        seq: its position in the call's log, from 1.
        wall: Unix time it was emitted, in seconds.
        v: the protocol version.
    """

    event: Event
    call_id: str
    seq: int
    wall: float
    v: int = PROTOCOL_VERSION

    @classmethod
    def of(cls, event: Event, call_id: str, seq: int, wall: float) -> "Envelope":
        """The envelope of an event just emitted, its values as the wire gives them."""
        return cls(from_dict(to_dict(event)), call_id, seq, round(wall, 3))

    @property
    def type(self) -> str:
        """The event's wire name (``reading``, ``transcript``…)."""
        return TYPE_NAMES[type(self.event)]

    def to_dict(self) -> dict[str, Any]:
        """The envelope as a JSON-ready dict (a new dict on each call)."""
        return {**to_dict(self.event), "v": self.v, "call_id": self.call_id, "seq": self.seq, "wall": self.wall}

    def json(self) -> str:
        """The envelope's JSON text, encoded on the first call and kept: every watcher, the
        call's log file and the hub's stream send the same text (websockets' ``broadcast``
        pattern)."""
        text: str | None = self.__dict__.get("_json")
        if text is None:
            text = json.dumps(self.to_dict(), ensure_ascii=False)
            object.__setattr__(self, "_json", text)  # a cache, not a field: equality ignores it
        return text

    @classmethod
    def from_dict(cls, data: Any) -> "Envelope":
        """Rebuild an envelope from its dict (a parsed log line or stream entry).

        Raises:
            EventFormatError: not an envelope voicemon writes (no object, an unknown ``type``,
                missing or mistyped fields).
        """
        if not isinstance(data, dict):
            raise EventFormatError(f"an envelope is a JSON object, not {type(data).__name__}")
        call_id, seq, wall, v = data.get("call_id"), data.get("seq"), data.get("wall"), data.get("v", PROTOCOL_VERSION)
        if not isinstance(call_id, str) or not _is_int(seq) or not _is_int(v) or not (
                _is_int(wall) or isinstance(wall, float)):
            raise EventFormatError("an envelope needs call_id (text), seq (integer) and wall (number)")
        return cls(from_dict(data), call_id, seq, wall, v)

    @classmethod
    def from_json(cls, text: str | bytes) -> "Envelope":
        """Rebuild an envelope from its JSON text, keeping that text as its encoding.

        Raises:
            EventFormatError: not JSON, or not an envelope (:meth:`from_dict`).
        """
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise EventFormatError(f"an envelope is UTF-8 JSON: {exc}") from None
        text = text.rstrip("\r\n")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise EventFormatError(f"an envelope is JSON: {exc}") from None
        env = cls.from_dict(data)
        object.__setattr__(env, "_json", text)
        return env


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
