"""Whisper repetition loops: the detector on word lists, and the real model on a call that loops."""

from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import FIXTURES
from voicemon.asr.loops import compression_ratio, cut_loops, find_loops, repeated_stretches
from voicemon.events import Word


def timed(texts: list[str], t0: float, step_s: float) -> list[Word]:
    return [Word(start=round(t0 + i * step_s, 3), end=round(t0 + (i + 0.8) * step_s, 3), text=t)
            for i, t in enumerate(texts)]


def test_a_loop_is_cut_to_one_copy_and_what_follows_is_kept():
    words = timed(["Okay,"] + ["-1"] * 100, 0.0, 0.05) + timed(["thanks"], 5.2, 0.3)
    loops = find_loops(words)
    assert [(lp.first, lp.end, lp.unit) for lp in loops] == [(1, 101, 1)]
    assert [w.text for w in cut_loops(words)] == ["Okay,", "-1", "thanks"]


def test_a_phrase_loop():
    words = timed(["I", "said"] + ["Um.", "you", "know"] * 30, 0.0, 0.08)
    assert [w.text for w in cut_loops(words)] == ["I", "said", "Um.", "you", "know"]


@pytest.mark.parametrize("texts,step_s", [
    (["4", "-1"] + ["-1"] * 14, 0.38),  # 4111 1111 1111 1111 read out: real repetition at speech rate
    (["no,"] * 6, 0.3),
    (["very"] * 3 + ["good"], 0.05),  # fast but short
])
def test_speech_that_repeats_is_kept(texts, step_s):
    words = timed(texts, 1.0, step_s)
    assert find_loops(words) == [] and cut_loops(words) == words


def test_repetition_measures():
    assert compression_ratio("Um. " * 100) > 10 > 2.4 > compression_ratio("I have been waiting for an hour")
    words = timed(["a", "b"] * 5 + ["c"], 0.0, 0.1)
    assert [(s.first, s.end, s.unit) for s in repeated_stretches(words)] == [(0, 10, 2)]


@pytest.fixture(scope="module")
def looping_utterance(tmp_path_factory):
    """A card read digit by digit (4111 1111 1111 1111) on which greedy tiny.en loops."""
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        pytest.skip("needs espeak-ng and sox")
    spec = importlib.util.spec_from_file_location("make_pii_fixtures", FIXTURES / "make_pii_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("loop")
    labels = module.make(out, names=["card_cvv_expiry_m3"])
    x, rate = sf.read(out / "card_cvv_expiry_m3.wav", dtype="float32")
    turn = labels["card_cvv_expiry_m3"]["turns"][0]
    return np.ascontiguousarray(x[int((turn["start_s"] - 0.3) * rate):int((turn["end_s"] + 0.6) * rate), 1])


@pytest.fixture(scope="module")
def unguarded_words(config, whisper_with, looping_utterance):
    """The real model's words for the clip with the guard off (decoded once for both guards)."""
    return whisper_with(dataclasses.replace(config.asr, loop_guard="off")).transcribe(looping_utterance)


@pytest.mark.parametrize("guard", ["redecode", "cut"])
def test_real_model_loop_is_guarded(config, whisper_with, looping_utterance, unguarded_words, guard):
    off = unguarded_words
    assert find_loops(off), "the clip no longer provokes a loop on this model"
    guarded = whisper_with(dataclasses.replace(config.asr, loop_guard=guard))
    words = guarded.transcribe(looping_utterance)
    assert words and not find_loops(words) and len(words) < 30
    assert guarded.loops_found == 1
    assert guarded.transcribe(looping_utterance) == words  # deterministic
