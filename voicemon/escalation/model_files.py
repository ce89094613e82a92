"""The interpretation's model files, read once: the cue lexicon and the coaching playbook.

Every call (each live call on a server, each fold of an evaluation, each step of a calibration
bisection) builds its own stages, but the files behind them are the same: they are parsed once
per process and file version (path, size and modification time) and shared, read-only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from voicemon.escalation.coach import Rule, load_playbook
from voicemon.escalation.text_cues import CueCategory, load_lexicon

if TYPE_CHECKING:
    from voicemon.config import Config


@dataclass(frozen=True)
class ModelFiles:
    """The parsed lexicon and playbook the interpreting stages use.

    Attributes:
        lexicon: cue categories by kind (:func:`~voicemon.escalation.text_cues.load_lexicon`).
        playbook: coaching rules in file order (:func:`~voicemon.escalation.coach.load_playbook`).
    """

    lexicon: Mapping[str, CueCategory]
    playbook: tuple[Rule, ...]


_CACHE: dict[tuple[tuple[object, ...], tuple[object, ...]], ModelFiles] = {}


def _version(path: str | None) -> tuple[object, ...]:
    """What identifies a file's contents cheaply: ``(path, size, mtime_ns)`` (bundled: ``None``)."""
    if path is None:
        return (None,)
    try:
        st = os.stat(path)
    except OSError:
        return (path, None)  # the loader raises the clear error
    return (os.path.abspath(path), st.st_size, st.st_mtime_ns)


def model_files(config: Config) -> ModelFiles:
    """The lexicon (``cues.lexicon``) and playbook (``coach.playbook``) of ``config``, parsed on
    first use and shared afterwards.

    Raises:
        ConfigError: a file is missing or malformed (never cached).
    """
    key = (_version(config.cues.lexicon), _version(config.coach.playbook))
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = ModelFiles(lexicon=load_lexicon(config.cues.lexicon),
                                         playbook=tuple(load_playbook(config.coach.playbook)))
    return found
