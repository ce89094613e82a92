"""The durable, append-only event log of one served call (DESIGN.md §14).

``<out>/<stem>.events.jsonl`` is created when the call starts (never over an existing file) and
is the call's source of truth while it runs: envelopes are appended in ``seq`` order and written
out by the server's flusher at least every ``log_flush_s`` (one second by default), so a crash
loses at most that much. RAM holds only the envelopes not yet written and one byte offset per
event; watchers' history pages and the final report are read back from the file, as
:class:`~voicemon.events.Envelope` objects that keep the line they were read from as their JSON
(a history page is sent without encoding anything again).
"""

from __future__ import annotations

import logging
import os
from array import array
from pathlib import Path
from typing import Iterator

from voicemon.errors import EventFormatError
from voicemon.events import Envelope

log = logging.getLogger(__name__)

EVENTS_SUFFIX = ".events.jsonl"
REPORT_SUFFIXES = (EVENTS_SUFFIX, ".json", ".html")
MAX_STEM_TRIES = 10000


def reserve_stem(out_dir: Path, call_id: str) -> tuple[str, "DurableLog"]:
    """Pick the file-name stem of a new call and create its event log.

    The stem is the call id (already validated: a plain file name) or, when any file of that
    stem exists, ``<id>~2``, ``<id>~3``… (``~`` is not allowed in call ids, so such a stem can
    never be another call's first choice). The log is created with ``O_EXCL``: two calls never
    share a file, and nothing is ever overwritten.

    Args:
        out_dir: the server's output folder.
        call_id: a valid call id.

    Returns:
        ``(stem, log)``.

    Raises:
        OSError: the folder cannot be written.
    """
    for n in range(1, MAX_STEM_TRIES + 1):
        stem = call_id if n == 1 else f"{call_id}~{n}"
        if any((out_dir / f"{stem}{suffix}").exists() for suffix in REPORT_SUFFIXES):
            continue
        try:
            return stem, DurableLog(out_dir / f"{stem}{EVENTS_SUFFIX}")
        except FileExistsError:
            continue
    raise FileExistsError(f"no free file name for call {call_id!r} in {out_dir}")


class DurableLog:
    """One call's event log: appended in memory, written by :meth:`flush`, read back in pages.

    Behaves enough like the list a :class:`~voicemon.live.runner.LiveCall` keeps (``append``,
    ``len``, ``[-1]``, iteration) to be given to it as its log. Event ``i`` (0-based) has
    ``seq = i + 1``.

    Args:
        path: the file to create (must not exist).

    Raises:
        FileExistsError: ``path`` exists.
        OSError: it cannot be created.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fh = open(self.path, "xb")
        self._pending: list[Envelope] = []
        self._offsets = array("q")  # byte offset of each written event
        self._size = 0
        self._count = 0
        self.last: Envelope | None = None
        self.error: OSError | None = None
        self.closed = False

    # -- the list-like side ------------------------------------------------------------

    def append(self, env: Envelope) -> None:
        """Add the next envelope (written at the next :meth:`flush`)."""
        self._pending.append(env)
        self._count += 1
        self.last = env

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> Envelope:
        if not isinstance(index, int):
            raise TypeError("DurableLog supports integer indexes only; use read() for pages")
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        if index == self._count - 1 and self.last is not None:
            return self.last
        return self.read(index, 1)[0]

    def __iter__(self) -> Iterator[Envelope]:
        """Every event, in order (the written part is read from the file)."""
        written, size, pending = len(self._offsets), self._size, list(self._pending)
        if written:
            with open(self.path, "rb") as fh:
                remaining = size
                for line in fh:
                    if remaining <= 0:
                        break
                    remaining -= len(line)
                    yield Envelope.from_json(line)
        yield from pending

    # -- disk ----------------------------------------------------------------------------

    @property
    def written(self) -> int:
        """Events on disk (readable by another process after a crash)."""
        return len(self._offsets)

    def flush(self) -> bool:
        """Write the pending envelopes and hand them to the OS (survives SIGKILL).

        Returns:
            False once writing has failed (the log then keeps further events in memory, and
            :attr:`error` says why).
        """
        if self.error is not None or self.closed:
            return self.error is None
        if not self._pending:
            return True
        lines = [e.json().encode("utf-8") + b"\n" for e in self._pending]
        try:
            self._fh.write(b"".join(lines))
            self._fh.flush()
        except (OSError, ValueError) as exc:
            self.error = exc if isinstance(exc, OSError) else OSError(str(exc))
            log.error("event log %s: writing failed (%s); later events of this call are kept in memory only",
                      self.path.name, exc)
            self._truncate_partial()
            return False
        for line in lines:
            self._offsets.append(self._size)
            self._size += len(line)
        self._pending.clear()
        return True

    def _truncate_partial(self) -> None:
        """After a failed write, cut the file back to its last whole line if possible."""
        try:
            self._fh.truncate(self._size)
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        """Flush and close the file (reads keep working)."""
        if self.closed:
            return
        self.flush()
        try:
            if self.error is None:
                os.fsync(self._fh.fileno())
        except OSError:
            pass
        try:
            self._fh.close()
        except OSError as exc:
            self.error = self.error or exc
        self.closed = True

    def read(self, start: int, limit: int) -> list[Envelope]:
        """Events ``start`` … ``start + limit - 1`` (0-based positions; seq = position + 1)."""
        end = min(self._count, start + max(0, limit))
        if start >= end:
            return []
        written = len(self._offsets)
        out: list[Envelope] = []
        if start < written:
            stop = min(end, written)
            first = self._offsets[start]
            last = self._offsets[stop] if stop < written else self._size
            with open(self.path, "rb") as fh:
                fh.seek(first)
                data = fh.read(last - first)
            out.extend(Envelope.from_json(line) for line in data.splitlines())
        if end > written:
            out.extend(self._pending[max(0, start - written):end - written])
        return out

    def read_positions(self, positions: list[int]) -> list[Envelope]:
        """The events at these 0-based positions (ascending), e.g. an index of notable events."""
        written = len(self._offsets)
        out: list[Envelope] = []
        on_disk = [p for p in positions if p < written]
        if on_disk:
            with open(self.path, "rb") as fh:
                for p in on_disk:
                    fh.seek(self._offsets[p])
                    out.append(Envelope.from_json(fh.readline()))
        out.extend(self._pending[p - written] for p in positions if written <= p < self._count)
        return out


def read_log(path: Path) -> tuple[list[Envelope], int]:
    """Read an event log written by :class:`DurableLog`, tolerating a torn last line.

    Returns:
        ``(envelopes, unreadable_lines)``: a line that is not an envelope (torn by a crash, or
        not written by voicemon) is counted, not returned.
    """
    events: list[Envelope] = []
    bad = 0
    with open(path, "rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                events.append(Envelope.from_json(line))
            except EventFormatError:
                bad += 1
    return events, bad
