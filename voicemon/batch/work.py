"""Analysing one call of a batch: the same function wherever it runs (this process, a Ray actor).

A worker opens the call by its absolute path but the report names it as the user did, so a
report written from a Ray actor is the one ``voicemon analyze`` writes on this machine. Errors
become a result, never an exception: one bad call does not stop the batch or kill an actor.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from voicemon.errors import VoicemonError

log = logging.getLogger(__name__)


@dataclass
class CallResult:
    """What a worker sends back for one call.

    Attributes:
        key: the call's manifest key.
        report: the report with its event log (``None`` when it failed).
        error: one line saying why it failed.
        elapsed_s: wall time of the analysis.
        cpu_s: CPU time the worker's process spent on it (all its threads).
        worker: ``host:pid`` of the worker.
        source_hash: SHA-256 of the audio as the worker read it (``None``: unreadable), so the
            driver never reads a new call's audio itself.
    """

    key: str
    report: dict[str, Any] | None = None
    error: str | None = None
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    source_hash: str | None = None


def _process_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def analyze_call(key: str, source: str, config, transcriber, asr_workers: int) -> CallResult:
    """Analyse one call into its report.

    Args:
        key: the absolute path (opened).
        source: the path as given (named in the report and in errors).
        config: options.
        transcriber: a loaded speech recogniser.
        asr_workers: utterances transcribed at once.

    Returns:
        The report, or the error that stopped it.
    """
    from voicemon.batch.manifest import source_hash
    from voicemon.offline import analyze_file

    started, cpu0 = time.perf_counter(), _process_cpu_s()
    result = CallResult(key)
    try:
        result.source_hash = source_hash(key)
    except OSError:
        pass  # analyze_file says why it cannot be read
    try:
        report = analyze_file(key, config, transcriber, asr_workers=asr_workers)
        report["source"] = source
        result.report = report
    except VoicemonError as exc:
        msg = str(exc).replace(key, source)
        result.error = msg if msg.startswith(source) else f"{source}: {msg}"
    except Exception as exc:  # noqa: BLE001 — keep the batch going; say what broke
        log.debug("analysis of %s failed", source, exc_info=True)
        result.error = f"{source}: internal error: {type(exc).__name__}: {exc}".replace(key, source)
    result.elapsed_s = round(time.perf_counter() - started, 3)
    result.cpu_s = round(_process_cpu_s() - cpu0, 3)
    return result
