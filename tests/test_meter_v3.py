"""Meter v3: escalation = voice arousal x the valence of the words (synthetic, known answers)."""

from __future__ import annotations

import pytest

from voicemon.escalation.meter import PREVIOUS_METER, EscalationMeter, load_meter_params
from voicemon.escalation.valence import WordValence
from voicemon.events import Cue, ProsodyFrame, TranscriptUpdate, Word
from voicemon.prosody.baseline import RobustBaseline

ORDER = ["calm", "tense", "heated", "critical"]


@pytest.fixture(scope="module")
def params():
    return load_meter_params()


def frame(t, role="customer", loudness_db=-26.0, baseline="speaker", z_prior=None, **z):
    return ProsodyFrame(t=t, role=role, t0=t - 1, t1=t, loudness_db=loudness_db, pitch_hz=150, pitch_range_st=4,
                        voiced_ratio=0.8, rate_syl_s=4, tilt_db=-10, z=z, baseline=baseline, z_prior=z_prior or {})


def speak(meter, start, end, role="customer", hop=0.25, **kw):
    out, t = [], start
    while t < end - 1e-9:
        t += hop
        meter.add_frame(frame(t, role, **kw))
        out += [r for r in meter.advance(t) if r.role == role]
    return out


def cue(t, kind, weight, role="customer", source="text", evidence="x"):
    return Cue(t=t, role=role, kind=kind, weight=weight, evidence=evidence, source=source, target=role)


def peak_level(readings):
    return max((r.level for r in readings), key=ORDER.index)


RAISED = dict(loudness=2.0, pitch=2.0, hammarberg=-1.0, harmonicity=-0.5)  # raised, not extreme


def test_the_bundled_meter_is_version_3_and_the_previous_one_is_kept(params):
    assert params.version == 3 and params.fusion is not None
    v2 = load_meter_params(bundled=PREVIOUS_METER)
    assert v2.version == 2 and v2.fusion is None


LOUD = dict(loudness=3.0, pitch=2.5, hammarberg=-1.5, harmonicity=-1.0)  # heated with neutral words


def test_a_raised_voice_with_positive_words_stays_below_heated(params):
    def run(positive):
        m = EscalationMeter(("agent", "customer"), params, 4.0)
        speak(m, 0, 10, loudness=0.0, pitch=0.0)
        if positive:
            m.add_cue(cue(10.0, "positive", -0.7, source="words", evidence="that is amazing, thank you so much"))
            m.add_cue(cue(10.5, "thanks", -0.4))
        return speak(m, 10, 25, **LOUD)

    assert ORDER.index(peak_level(run(False))) >= ORDER.index("heated")
    rs = run(True)
    assert ORDER.index(peak_level(rs)) < ORDER.index("heated")
    assert any("damped" in n for n in rs[-1].notes)
    assert rs[-1].parts["voice"] > 0 and rs[-1].parts["words"] < 0


def test_the_same_voice_with_negative_words_is_heated_and_sooner_than_with_neutral_words(params):
    def onset(cues):
        m = EscalationMeter(("agent", "customer"), params, 4.0)
        speak(m, 0, 10, loudness=0.0, pitch=0.0)
        for c in cues:
            m.add_cue(c)
        rs = speak(m, 10, 25, **RAISED)
        return next((r.t for r in rs if ORDER.index(r.level) >= 2), None), rs

    neutral_t, _ = onset([])
    negative_t, rs = onset([cue(10.0, "anger", 0.9, evidence="this is ridiculous"), cue(10.0, "negative", 0.4, source="words")])
    assert negative_t is not None
    assert neutral_t is None or negative_t < neutral_t
    assert any("amplified" in n for n in rs[-1].notes)


def test_clearly_negative_escalated_words_reach_heated_by_themselves(params):
    m = EscalationMeter(("customer",), params, 4.0)
    for t, kind, w in ((1.0, "anger", 0.9), (1.0, "negative", 0.3), (4.0, "repetition", 0.9), (8.0, "ultimatum", 1.0),
                       (8.0, "losing_control", 1.0)):
        m.add_cue(cue(t, kind, w, source="words" if kind == "negative" else "text"))
    rs = [r for r in m.advance(12.0) if r.role == "customer"]
    assert ORDER.index(peak_level(rs)) >= ORDER.index("heated")
    assert rs[-1].parts["words"] > 2.85 and "voice" not in rs[-1].parts


def test_extreme_sustained_voice_alone_reaches_heated_fast(params):
    m = EscalationMeter(("agent", "customer"), params, 4.0)
    speak(m, 0, 10, loudness=0.0, pitch=0.0)
    rs = speak(m, 10, 20, loudness=4.0, pitch=3.0, hammarberg=-2.0, harmonicity=-1.5)
    first = next(r.t for r in rs if ORDER.index(r.level) >= 2)
    assert first - 10.0 <= 3.0  # onset: well within 3 s of the turn's start


def test_a_caller_angry_from_the_start_is_read_against_the_other_party(params):
    """Negative words while the baseline forms: the (angry) baseline is not trusted, and the
    caller's loudness is read against the agent's level instead."""
    def run(with_words):
        m = EscalationMeter(("agent", "customer"), params, 4.0)
        speak(m, 0, 4, role="agent", loudness_db=-32.0, baseline="partial", loudness=0.0)
        if with_words:
            m.add_cue(cue(4.5, "anger", 0.9, evidence="I am extremely frustrated"))
            m.add_cue(cue(4.5, "negative", 0.3, source="words"))
        # the caller's own baseline learned the shouting: z ~ 0 against it
        return speak(m, 4, 14, loudness_db=-22.0, baseline="partial", loudness=0.1, z_prior={"loudness": 0.7})

    plain, tainted = run(False), run(True)
    assert max(r.score for r in tainted) > max(r.score for r in plain)
    assert ORDER.index(peak_level(tainted)) >= ORDER.index("heated")
    assert any("baseline formed" in n for n in tainted[-1].notes)
    assert not any("baseline formed" in n for r in plain for n in r.notes)


def test_version_2_ignores_the_word_valence_cues():
    v2 = load_meter_params(bundled=PREVIOUS_METER)
    m = EscalationMeter(("customer",), v2, 4.0)
    m.add_cue(cue(1.0, "negative", 0.8, source="words"))
    r = m.advance(2.0)[-1]
    assert "words:negative" not in r.contributions


def test_a_baseline_never_learns_effort_far_above_the_population():
    from voicemon.prosody.baseline import FeaturePrior

    priors = {"loudness": FeaturePrior(-26.0, 6.0, 2.5), "hammarberg": FeaturePrior(19.0, 6.0, 1.5, 3.7)}
    b = RobustBaseline(priors, baseline_voiced_s=20.0, adapt_half_life_s=120.0)
    shouting = {"loudness": -20.0, "hammarberg": -1.0}  # spectrum 3.3 population sigma flatter
    for _ in range(40):
        assert not b.update(shouting, 0.2, b.z(shouting), b.z_prior(shouting))
    assert b.state == "prior" and b.z(shouting)["hammarberg"] == pytest.approx(-20 / 6)
    ordinary = {"loudness": -20.0, "hammarberg": 15.0}
    assert b.update(ordinary, 0.2, b.z(ordinary), b.z_prior(ordinary))
    hot_line = {"loudness": -6.0, "hammarberg": 15.0}  # a loud line is not effort: learned
    assert b.update(hot_line, 0.2, b.z(hot_line), b.z_prior(hot_line))


def words(text, t0=1.0):
    ws = tuple(Word(start=t0 + 0.3 * i, end=t0 + 0.3 * i + 0.25, text=w) for i, w in enumerate(text.split()))
    return TranscriptUpdate(t=t0 + 5, role="customer", utterance_id="u1", start=t0, end=t0 + 3, text=text, words=ws)


@pytest.mark.parametrize("text,kind", [
    ("I am extremely frustrated right now", "negative"),
    ("I hate this, it is a disaster", "negative"),
    ("Oh wow that is amazing, thank you so much", "positive"),
    ("I would like to know when it will be delivered", None),
    ("no", None),  # too short to carry a sentence's valence
])
def test_word_valence_cues(text, kind):
    cues = WordValence().feed(words(text))
    assert [c.kind for c in cues] == ([kind] if kind else [])
    for c in cues:
        assert c.source == "words" and c.target == "customer" and (c.weight > 0) == (kind == "negative")
        assert "sentiment" in c.evidence


def test_tentative_text_has_no_valence():
    update = words("I hate this so much")
    update = TranscriptUpdate(**{**update.__dict__, "final": False})
    assert WordValence().feed(update) == []


def test_the_terminal_view_says_why_in_voice_and_words():
    from voicemon.live.terminal_view import why_line

    line = why_line({"bias": -2.45, "loudness": 1.6, "pitch": 0.3, "text:anger": 0.9, "words:negative": 0.3})
    assert line == "Voice +1.9 (louder than their normal) · Words +1.2 (angry words)"
    assert why_line({"bias": -2.45}) == ""


def test_a_brief_burst_over_the_heated_threshold_is_not_an_alarm(params):
    """Heated is entered only after the score has stayed above its threshold enter_delay_s."""
    import dataclasses

    assert params.enter_delay_s > 0
    m = EscalationMeter(("customer",), dataclasses.replace(params, attack_s=0.01), 4.0)
    logit_60 = 0.6  # a little above heated (60)
    m.advance(1.0)
    m.add_cue(cue(1.0, "anger", logit_60 - params.bias, evidence="x"))
    first = [r for r in m.advance(1.25) if r.role == "customer"]
    assert first[-1].score >= params.thresholds["heated"] and first[-1].level == "tense"
    later = [r for r in m.advance(1.0 + params.enter_delay_s + 0.25) if r.role == "customer"]
    assert later[-1].level == "heated"
