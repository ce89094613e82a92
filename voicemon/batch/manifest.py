"""The run manifest of a batch: what happened to each call, durable across kills and re-runs.

``<out>/manifest.jsonl`` is a journal: one JSON object per line, appended whenever a call
changes state (``running`` when it is dispatched, ``done`` or ``failed`` when its result is in);
the last line of a call wins. Each line is written with one ``write`` and flushed to the disk
before the run goes on, so a run killed at any point leaves a manifest that says exactly which
calls finished; a line torn by the kill is ignored and cut off when the manifest is next opened.
At the end of a run the journal is compacted (one line per call) by writing a new file and
renaming it over the old one, so it is never half-written.

A call's key is its absolute path. Whether a re-run may skip it is decided by :func:`decide`
from the recorded source hash (SHA-256 of the file's bytes; the size and modification time let
an unchanged file skip being read again) and the configuration hash (:func:`config_hash`).

One run at a time writes a manifest: :meth:`Manifest.open` takes an exclusive lock on
``manifest.lock`` and a second run on the same folder is a :class:`~voicemon.errors.BatchError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from voicemon.errors import BatchError

MANIFEST_NAME = "manifest.jsonl"
LOCK_NAME = "manifest.lock"
MANIFEST_VERSION = 1
HASH_BLOCK_BYTES = 1 << 20

DONE = "done"
FAILED = "failed"
RUNNING = "running"

RUN = "run"
SKIP_DONE = "skip_done"
SKIP_FAILED = "skip_failed"

CONFIG_SECTIONS_IGNORED = ("server", "batch", "live")
"""Configuration sections that do not change a call's analysis (where it ran, how the server
listens, how live calls pace their ASR); changing them does not redo finished calls."""
CONFIG_OPTIONS_IGNORED = {"asr": ("workers",)}
"""Options that do not change a call's analysis either (utterances transcribed at once)."""


def source_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, as ``sha256:<hex>``.

    Raises:
        OSError: the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def config_hash(config_dict: dict[str, Any], version: str) -> str:
    """What makes two analyses of the same audio give the same reports.

    Args:
        config_dict: :meth:`voicemon.config.Config.to_dict` (it names the model too).
        version: voicemon's version.

    Returns:
        ``sha256:<hex>`` of the analysis-relevant configuration and the version. (Which files
        are written is not part of it: a finished call lacking a file a re-run asks for is
        analysed again, see :func:`decide`.)
    """
    relevant = {k: v for k, v in config_dict.items() if k not in CONFIG_SECTIONS_IGNORED}
    body = json.dumps({"config": relevant, "version": version}, sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FileStat:
    """A source file's identity as the manifest sees it."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> "FileStat | None":
        """The file's size and modification time (``None`` if it cannot be stat'ed)."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        return cls(st.st_size, st.st_mtime_ns)


def known_hash(record: dict | None, stat: FileStat | None) -> str | None:
    """The recorded source hash, if the file's size and modification time are unchanged."""
    if record is None or stat is None or not record.get("source_hash"):
        return None
    if record.get("size") == stat.size and record.get("mtime_ns") == stat.mtime_ns:
        return record["source_hash"]
    return None


def decide(record: dict | None, src_hash: str | None, cfg_hash: str, max_attempts: int,
           out_dir: Path | None = None, wanted: Iterable[str] = ()) -> str:
    """What a run does with one call, given its last manifest record.

    Args:
        record: the call's last record (``None``: never seen).
        src_hash: its source hash now (``None``: missing or unreadable; it is run, and fails,
            until it has failed ``max_attempts`` times).
        cfg_hash: the run's configuration hash.
        max_attempts: analyses of the same audio and configuration before a failure is final.
        out_dir: where its reports are (a done call whose files are gone is run again).
        wanted: the kinds of file this run writes (``json``, ``html``, ``events``): a done call
            without one of them is run again.

    Returns:
        ``run``, ``skip_done`` (finished with the same audio and configuration) or
        ``skip_failed`` (failed ``max_attempts`` times with the same audio and configuration).
    """
    if record is None:
        return RUN
    same = record.get("source_hash") == src_hash and record.get("config_hash") == cfg_hash
    if not same:
        return RUN
    status = record.get("status")
    if status == DONE:
        reports = record.get("reports") or {}
        if any(kind not in reports for kind in wanted):
            return RUN
        if out_dir is not None and not all(Path(p).exists() for p in reports.values()):
            return RUN
        return SKIP_DONE
    if status == FAILED and int(record.get("attempts", 0)) >= max_attempts:
        return SKIP_FAILED
    return RUN


class Manifest:
    """A batch's manifest (use :meth:`open`; a context manager that releases the lock).

    Args:
        out_dir: the batch's output folder.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / MANIFEST_NAME
        self.records: dict[str, dict[str, Any]] = {}
        self.torn_lines = 0
        self._fh = None
        self._lock_fh = None

    @classmethod
    def open(cls, out_dir: Path) -> "Manifest":
        """Lock the folder's manifest and read it.

        Raises:
            BatchError: another run holds the lock, or the manifest cannot be read or written.
        """
        manifest = cls(out_dir)
        manifest._lock()
        try:
            manifest._load()
            manifest._fh = open(manifest.path, "ab")
        except OSError as exc:
            manifest.close()
            raise BatchError(f"cannot use the run manifest {manifest.path}: {exc.strerror or exc}") from None
        except BaseException:
            manifest.close()
            raise
        return manifest

    def __enter__(self) -> "Manifest":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _lock(self) -> None:
        import fcntl

        try:
            self._lock_fh = open(self.out_dir / LOCK_NAME, "a+b")
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_fh.close()
            self._lock_fh = None
            raise BatchError(f"another run is writing {self.out_dir} (its {LOCK_NAME} is locked); "
                             "wait for it or use another --out") from None
        except OSError as exc:
            raise BatchError(f"cannot lock {self.out_dir / LOCK_NAME}: {exc.strerror or exc}") from None

    def _load(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            data = fh.read()
        good_end = 0
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:  # a line the kill cut short: ignored, and cut off below
                self.torn_lines += 1
                break
            line = data[pos:nl]
            pos = nl + 1
            try:
                rec = json.loads(line)
            except ValueError:
                self.torn_lines += 1
                continue
            good_end = pos
            if isinstance(rec, dict) and isinstance(rec.get("key"), str):
                self.records[rec["key"]] = rec
        if good_end < len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)

    def get(self, key: str) -> dict[str, Any] | None:
        """The call's last record."""
        return self.records.get(key)

    def update(self, key: str, **fields: Any) -> dict[str, Any]:
        """Record a change of one call: its record merged with ``fields``, appended durably.

        Returns:
            The call's new record.

        Raises:
            BatchError: the manifest cannot be written (the run must stop: it could not resume).
        """
        record = {**self.records.get(key, {}), **fields, "key": key, "v": MANIFEST_VERSION,
                  "updated_at": round(time.time(), 3)}
        line = json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
        try:
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except (OSError, ValueError) as exc:
            raise BatchError(f"cannot write the run manifest {self.path}: {exc}") from None
        self.records[key] = record
        return record

    def compact(self) -> None:
        """Rewrite the journal as one line per call (a new file renamed over the old one)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        body = b"".join(json.dumps(r, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
                        for r in self.records.values())
        try:
            with open(tmp, "wb") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            if self._fh is not None:
                self._fh.close()
            os.replace(tmp, self.path)
            self._fh = open(self.path, "ab")
        except OSError as exc:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise BatchError(f"cannot compact the run manifest {self.path}: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Close the journal and release the lock."""
        for fh in (self._fh, self._lock_fh):
            if fh is not None:
                try:
                    fh.close()
                except OSError:
                    pass
        self._fh = self._lock_fh = None


def read_manifest(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The last record of every call in a folder's manifest, without locking (for readers)."""
    path = Path(out_dir) / MANIFEST_NAME
    records: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return records
    with open(path, "rb") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("key"), str):
                records[rec["key"]] = rec
    return records
