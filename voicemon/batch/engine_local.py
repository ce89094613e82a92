"""The local engine: a batch's calls one after another in this process, one Whisper model."""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from voicemon.batch.work import CallResult, analyze_call


class LocalEngine:
    """Analyse calls in this process (what ``voicemon analyze`` does, with a manifest).

    Args:
        config: options.
        workers: utterances transcribed at once (0 = one per core).
    """

    name = "local"

    def __init__(self, config, workers: int = 0) -> None:
        from voicemon.asr.transcriber import parallel_transcriber

        self.config = config
        self.transcriber, self.workers = parallel_transcriber(config.asr, workers)

    @property
    def model_name(self) -> str:
        """The speech model's name (as reports record it)."""
        return self.transcriber.name

    def prepare(self, calls: int) -> None:
        """Nothing to start: the model is loaded."""

    def describe(self) -> str:
        """One line about where calls run."""
        return f"this process, {self.workers} transcription worker(s)"

    def results(self, jobs: Iterable[tuple[str, str]], on_dispatch: Callable[[str, str], None]) -> Iterator[CallResult]:
        """Analyse ``(key, source)`` jobs in order, yielding each result as it is ready."""
        for key, source in jobs:
            on_dispatch(key, "local")
            yield analyze_call(key, source, self.config, self.transcriber, self.workers)

    def close(self) -> None:
        """Nothing to release (the model goes with the process)."""
