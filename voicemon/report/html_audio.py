"""The call report's audio player: the recording linked by a relative path (never embedded) and
the page script that plays the call from a transcript line when it is clicked."""

from __future__ import annotations

import os
from html import escape
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

AUDIO_JS = """
(function () {
  "use strict";
  var audio = document.getElementById("vm-audio"), box = document.getElementById("vm-transcript");
  if (!audio || !box) { return; }
  var segs = Array.prototype.slice.call(box.querySelectorAll(".seg[data-start]"));
  var player = document.getElementById("vm-player"), note = document.getElementById("vm-audio-note");
  function mark(seg) { segs.forEach(function (s) { s.classList.toggle("playing", s === seg); }); }
  audio.addEventListener("error", function () {
    player.classList.add("unreachable");
    box.parentNode.classList.remove("has-audio");
    note.textContent = "The recording is not reachable from this page (moved, deleted, or the page is served over HTTP).";
  });
  box.addEventListener("click", function (e) {
    var seg = e.target && e.target.closest ? e.target.closest(".seg[data-start]") : null;
    if (!seg || player.classList.contains("unreachable")) { return; }
    if (window.getSelection && String(window.getSelection()).length && !e.target.closest("button")) { return; }
    e.preventDefault();
    e.stopPropagation();  // the page's time-button handler would scroll up to the plot
    audio.currentTime = +seg.dataset.start;
    var p = audio.play();
    if (p && p.catch) { p.catch(function () {}); }
    mark(seg);
    if (window.vmSetCursor) { window.vmSetCursor(+seg.dataset.start); }
  }, true);
  audio.addEventListener("timeupdate", function () {
    var t = audio.currentTime, cur = null;
    segs.forEach(function (s) { if (+s.dataset.start <= t + 0.05) { cur = s; } });
    mark(cur);
    if (window.vmSetCursor && !audio.paused) { window.vmSetCursor(t); }
  });
})();
"""


def audio_link(source: Any, page_dir: str | os.PathLike[str]) -> str | None:
    """The URL of a call's recording relative to the folder its report is saved in.

    Args:
        source: the report's ``source`` (a file path for ``analyze`` and ``replay``).
        page_dir: the folder of the HTML page.

    Returns:
        A relative, percent-encoded URL, or ``None`` when ``source`` is not a readable local file
        (a served call's ``ingest:…``, a device) or lies on another drive.
    """
    if not isinstance(source, str) or not source or not os.path.isfile(source):
        return None
    try:
        rel = os.path.relpath(os.path.abspath(source), os.path.abspath(page_dir))
    except ValueError:
        return None
    return quote(PurePath(rel).as_posix())


def player(audio_src: str | None) -> str:
    """The transcript's player (empty without a recording)."""
    if not audio_src:
        return ""
    return (f'<div class="player" id="vm-player"><audio id="vm-audio" controls preload="metadata" '
            f'src="{escape(audio_src, quote=True)}"></audio><span class="muted small" id="vm-audio-note">Click a line to play the '
            f'call from there.</span></div>')
