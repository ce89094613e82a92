"""Which calls a batch analyses: files, folders, globs and manifest CSVs.

A manifest CSV (a ``.csv`` file among the inputs) has a header with a ``path`` column and,
optionally, ``agent``, ``queue``, ``date`` and any other columns: each row is one call, and its
other columns are kept as the call's metadata in the run manifest. A relative ``path`` is
relative to the CSV's folder.
"""

from __future__ import annotations

import csv
import glob
from dataclasses import dataclass, field
from pathlib import Path

from voicemon.errors import BatchError

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".webm",
                              ".au", ".aiff", ".aif", ".caf"})
METADATA_COLUMNS = ("agent", "queue", "date")
MAX_METADATA_CHARS = 200


@dataclass(frozen=True)
class BatchItem:
    """One call of a batch.

    Attributes:
        source: the path as the user gave it (what reports and the summary show).
        key: its absolute path (the manifest's key; what workers open).
        metadata: the manifest CSV's other columns (``agent``, ``queue``, ``date``...).
    """

    source: str
    key: str
    metadata: dict[str, str] = field(default_factory=dict)


def expand_inputs(paths: list[str]) -> list[Path]:
    """Files, directories (their audio files, recursively) and globs, in order, without repeats."""
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS:
                    add(f)
        elif not p.exists() and any(ch in raw for ch in "*?["):
            matches = sorted(glob.glob(raw, recursive=True))
            for m in matches:
                if Path(m).is_file():
                    add(Path(m))
            if not matches:
                add(p)  # reported as missing
        else:
            add(p)
    return out


def read_call_list(path: Path) -> list[BatchItem]:
    """The calls of a manifest CSV.

    Raises:
        BatchError: unreadable, no ``path`` column, or a row without a path.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            if "path" not in columns:
                raise BatchError(f"{path}: a call list needs a 'path' column (found: {', '.join(columns) or 'none'})")
            items = []
            for n, row in enumerate(reader, start=2):
                row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
                raw = row.pop("path", "")
                if not raw:
                    raise BatchError(f"{path}, line {n}: empty path")
                if "\x00" in raw:
                    raise BatchError(f"{path}, line {n}: a path with a NUL byte")
                p = Path(raw)
                if not p.is_absolute():
                    p = path.parent / p
                meta = {k: v[:MAX_METADATA_CHARS] for k, v in row.items() if k and v}
                items.append(BatchItem(str(p), str(p.resolve()), meta))
            return items
    except UnicodeDecodeError:
        raise BatchError(f"{path}: a call list must be UTF-8 CSV") from None
    except csv.Error as exc:
        raise BatchError(f"{path}: not a readable CSV: {exc}") from None
    except OSError as exc:
        raise BatchError(f"{path}: cannot read it: {exc.strerror or exc}") from None


def collect_items(paths: list[str]) -> list[BatchItem]:
    """Every call of the inputs, in order, each once (the first mention's metadata wins).

    Raises:
        BatchError: a call list is malformed.
    """
    items: list[BatchItem] = []
    seen: set[str] = set()
    plain: list[str] = []

    def flush_plain() -> None:
        for p in expand_inputs(plain):
            add(BatchItem(str(p), str(p.resolve())))
        plain.clear()

    def add(item: BatchItem) -> None:
        if item.key not in seen:
            seen.add(item.key)
            items.append(item)

    for raw in paths:
        p = Path(raw)
        if p.suffix.lower() == ".csv" and p.is_file():
            flush_plain()
            for item in read_call_list(p):
                add(item)
        else:
            plain.append(raw)
    flush_plain()
    return items
