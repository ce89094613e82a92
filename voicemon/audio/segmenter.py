"""Streaming voice activity detection and utterance endpointing for one party.

An energy detector against an adaptive noise floor: a frame is speech when it is
``onset_db`` above the running floor (which falls fast and rises slowly, so it follows line noise
but not speech) and above an absolute minimum. A burst of ``min_speech_ms`` opens an utterance,
``end_silence_ms`` of silence closes it, and an utterance longer than ``max_utterance_s`` is cut.
Each closed utterance becomes an :class:`~voicemon.events.AsrJob`: Whisper runs about once per
utterance instead of re-reading a sliding window (DESIGN.md §9).
"""

from __future__ import annotations

import numpy as np

from voicemon.config import SegmenterOptions
from voicemon.events import SAMPLE_RATE_HZ, AsrJob, AudioChunk, SpeechEnded, SpeechStarted

CUT_SEARCH_S = 4.0
"""A too-long utterance is cut at its quietest frame within this many seconds before the cap."""
CUT_MARGIN_S = 0.3
PREROLL_S = 0.25
TAIL_S = 0.25
FLOOR_FALL = 0.3
FLOOR_RISE_DB_PER_S = 1.0
END_HYSTERESIS_DB = 3.0


class UtteranceSegmenter:
    """Cut one party's audio into utterances; a synchronous, clock-free stage.

    Args:
        role: the party this segmenter listens to.
        options: thresholds and lengths.
    """

    def __init__(self, role: str, options: SegmenterOptions) -> None:
        self.role = role
        self.opt = options
        self._frame = max(1, int(SAMPLE_RATE_HZ * options.frame_ms / 1000))
        self._pending = np.zeros(0, np.float32)
        self._next_frame_sample = 0
        self._floor_db: float | None = None
        self._buffer: list[np.ndarray] = []
        self._buffer_start = 0
        self._buffer_len = 0
        self._in_speech = False
        self._onset_frames = 0
        self._onset_start = 0
        self._silence_frames = 0
        self._utt_start = 0
        self._speech_start = 0
        self._last_speech_end = 0
        self._utt_index = 0
        self._part_index = 0
        self._job_index = 0
        self._utt_levels: list[float] = []

    @property
    def in_speech(self) -> bool:
        """Whether the party is talking now."""
        return self._in_speech

    def feed(self, chunk: AudioChunk) -> tuple[list[SpeechStarted | SpeechEnded], list[AsrJob]]:
        """Take the next chunk of this party's audio.

        Returns:
            ``(events, jobs)``: speech start/end events and the utterances ready to transcribe.
        """
        self._append(chunk.samples)
        data = np.concatenate([self._pending, chunk.samples.astype(np.float32, copy=False)])
        n_frames = len(data) // self._frame
        events: list[SpeechStarted | SpeechEnded] = []
        jobs: list[AsrJob] = []
        if n_frames:
            frames = data[: n_frames * self._frame].reshape(n_frames, self._frame)
            level_db = 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
            for db in level_db:
                self._step(float(db), events, jobs)
                self._next_frame_sample += self._frame
        self._pending = data[n_frames * self._frame:]
        if not self._in_speech and self._onset_frames == 0:
            self._trim(self._next_frame_sample - int(PREROLL_S * SAMPLE_RATE_HZ))
        return events, jobs

    def snapshot(self) -> AsrJob | None:
        """An interim (``final=False``) job for the utterance in progress, or ``None``.

        Reads the audio of the open utterance so far without changing any state, so a live
        driver may ask for tentative text without altering what the stage will commit.
        """
        if not self._in_speech:
            return None
        utt_id = f"{self.role}-{self._utt_index}" + (f".{self._part_index}" if self._part_index else "")
        end = self._next_frame_sample
        return AsrJob(
            job_id=f"{utt_id}-interim@{end}",
            role=self.role,
            utterance_id=utt_id,
            start_sample=max(self._utt_start, self._buffer_start),
            samples=self._slice(self._utt_start, end),
            final=False,
        )

    def flush(self) -> tuple[list[SpeechStarted | SpeechEnded], list[AsrJob]]:
        """End of the call: close any open utterance."""
        events: list[SpeechStarted | SpeechEnded] = []
        jobs: list[AsrJob] = []
        if self._in_speech:
            end = self._last_speech_end
            events.append(SpeechEnded(t=end / SAMPLE_RATE_HZ, role=self.role, start=self._speech_start / SAMPLE_RATE_HZ))
            jobs.append(self._job(self._utt_start, min(self._buffer_end, end + int(TAIL_S * SAMPLE_RATE_HZ)), speech_end=end))
            self._in_speech = False
        return events, jobs

    # -- internals -------------------------------------------------------------------------

    @property
    def _buffer_end(self) -> int:
        return self._buffer_start + self._buffer_len

    def _append(self, samples: np.ndarray) -> None:
        if len(samples):
            self._buffer.append(samples.astype(np.float32, copy=False))
            self._buffer_len += len(samples)

    def _trim(self, keep_from: int) -> None:
        while self._buffer and self._buffer_start + len(self._buffer[0]) <= keep_from:
            self._buffer_start += len(self._buffer[0])
            self._buffer_len -= len(self._buffer[0])
            self._buffer.pop(0)

    def _slice(self, start: int, end: int) -> np.ndarray:
        data = np.concatenate(self._buffer) if self._buffer else np.zeros(0, np.float32)
        self._buffer = [data]
        a = max(0, start - self._buffer_start)
        b = max(a, min(len(data), end - self._buffer_start))
        return data[a:b].copy()

    def _job(self, start: int, end: int, final: bool = True, speech_end: int | None = None) -> AsrJob:
        utt_id = f"{self.role}-{self._utt_index}" + (f".{self._part_index}" if self._part_index else "")
        job = AsrJob(
            job_id=f"{self.role}-j{self._job_index}",
            role=self.role,
            utterance_id=utt_id,
            start_sample=max(start, self._buffer_start),
            samples=self._slice(start, end),
            final=final,
            speech_end_sample=speech_end,
        )
        self._job_index += 1
        return job

    def _update_floor(self, db: float) -> None:
        if self._floor_db is None:
            self._floor_db = max(db, -100.0)
        elif db < self._floor_db:
            self._floor_db += FLOOR_FALL * (db - self._floor_db)
        else:
            rise = FLOOR_RISE_DB_PER_S * self.opt.frame_ms / 1000
            self._floor_db += min(db - self._floor_db, rise)

    def _step(self, db: float, events: list[SpeechStarted | SpeechEnded], jobs: list[AsrJob]) -> None:
        self._update_floor(db)
        floor = self._floor_db if self._floor_db is not None else -100.0
        frame_start = self._next_frame_sample
        frame_end = frame_start + self._frame
        onset = db > max(floor + self.opt.onset_db, self.opt.min_level_dbfs)
        if not self._in_speech:
            if onset:
                if self._onset_frames == 0:
                    self._onset_start = frame_start
                self._onset_frames += 1
                if self._onset_frames * self.opt.frame_ms >= self.opt.min_speech_ms:
                    self._in_speech = True
                    self._silence_frames = 0
                    self._speech_start = self._onset_start
                    self._utt_start = max(0, self._onset_start - int(PREROLL_S * SAMPLE_RATE_HZ))
                    self._last_speech_end = frame_end
                    self._part_index = 0
                    # pre-roll and onset frames: never a cut point
                    self._utt_levels = [0.0] * ((frame_end - self._utt_start) // self._frame)
                    events.append(SpeechStarted(t=self._onset_start / SAMPLE_RATE_HZ, role=self.role))
            else:
                self._onset_frames = 0
            return
        self._utt_levels.append(db)
        still = db > max(floor + self.opt.onset_db - END_HYSTERESIS_DB, self.opt.min_level_dbfs)
        if still:
            self._silence_frames = 0
            self._last_speech_end = frame_end
        else:
            self._silence_frames += 1
        if self._silence_frames * self.opt.frame_ms >= self.opt.end_silence_ms:
            end = self._last_speech_end
            events.append(SpeechEnded(t=end / SAMPLE_RATE_HZ, role=self.role, start=self._speech_start / SAMPLE_RATE_HZ))
            jobs.append(self._job(self._utt_start, end + int(TAIL_S * SAMPLE_RATE_HZ), speech_end=end))
            self._in_speech = False
            self._onset_frames = 0
            self._utt_index += 1
            self._part_index = 0
            return
        max_len = int(self.opt.max_utterance_s * SAMPLE_RATE_HZ)
        if frame_end - self._utt_start >= max_len:
            cut = self._quietest_cut(frame_end)
            jobs.append(self._job(self._utt_start, cut))
            self._part_index += 1
            self._utt_levels = self._utt_levels[(cut - self._utt_start) // self._frame:]
            self._utt_start = cut
            self._trim(cut)

    def _quietest_cut(self, frame_end: int) -> int:
        """Where to cut an utterance that reached the cap: its quietest frame near the end."""
        n = len(self._utt_levels)
        hi = n - int(CUT_MARGIN_S * 1000 / self.opt.frame_ms)
        lo = max(n // 2, n - int(CUT_SEARCH_S * 1000 / self.opt.frame_ms))
        if hi <= lo:
            return frame_end
        window = self._utt_levels[lo:hi]
        quietest = min(range(len(window)), key=lambda i: (window[i], -i))
        return self._utt_start + (lo + quietest) * self._frame
