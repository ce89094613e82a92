import numpy as np
import pytest

from voicemon.prosody.baseline import FeaturePrior, RobustBaseline


def make(baseline_s=10.0):
    return RobustBaseline({"pitch": FeaturePrior(6.0, 5.0, 1.0)}, baseline_voiced_s=baseline_s, adapt_half_life_s=60.0)


def feed(b, values, voiced=0.25):
    for v in values:
        z = b.z({"pitch": v})
        b.update({"pitch": v}, voiced, z)


def test_prior_then_partial_then_speaker():
    b = make()
    assert b.state == "prior"
    assert b.z({"pitch": 11.0})["pitch"] == pytest.approx(1.0)  # population prior: (11-6)/5
    rng = np.random.default_rng(0)
    feed(b, 12.0 + rng.normal(0, 1.0, 20))  # 5 s of a speaker with a higher voice
    assert b.state == "partial"
    c, s = b.reference("pitch")
    assert 6.0 < c < 12.0  # shrunk towards the prior
    feed(b, 12.0 + rng.normal(0, 1.0, 30))
    assert b.state == "speaker"
    c, s = b.reference("pitch")
    assert c == pytest.approx(12.0, abs=0.4) and s == pytest.approx(1.0, abs=0.35)
    # +3 sigma of this speaker is +3 z, whatever the population says
    assert b.z({"pitch": c + 3 * s})["pitch"] == pytest.approx(3.0)


def test_min_scale_guards_a_monotone_speaker():
    b = make()
    feed(b, [10.0] * 60)
    assert b.reference("pitch")[1] == pytest.approx(1.0)  # min_scale, not 0


def test_escalated_frames_do_not_become_the_new_normal():
    b = make()
    feed(b, [10.0 + 0.5 * np.sin(i) for i in range(60)])
    c0 = b.reference("pitch")[0]
    feed(b, [16.0] * 400)  # 100 voiced seconds of a raised voice
    assert b.reference("pitch")[0] == pytest.approx(c0, abs=0.1)
    feed(b, [10.8] * 400)  # ordinary speech still adapts slowly
    assert b.reference("pitch")[0] > c0 + 0.2
