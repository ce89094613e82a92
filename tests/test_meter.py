import pytest

from voicemon.escalation.meter import EscalationMeter, load_meter_params
from voicemon.events import Cue, ProsodyFrame


@pytest.fixture(scope="module")
def params():
    return load_meter_params()


def frame(t: float, role: str = "customer", **z) -> ProsodyFrame:
    return ProsodyFrame(t=t, role=role, t0=t - 1, t1=t, loudness_db=-20, pitch_hz=150, pitch_range_st=4,
                        voiced_ratio=0.8, rate_syl_s=4, tilt_db=-10, z=z, baseline="speaker")


def run(meter: EscalationMeter, start: float, end: float, hop: float = 0.25, role: str = "customer", **z):
    readings = []
    t = start
    while t < end - 1e-9:
        t += hop
        if z:
            meter.add_frame(frame(t, role, **z))
        readings += meter.advance(t)
    return readings


def test_at_baseline_the_meter_is_calm(params):
    m = EscalationMeter(("agent", "customer"), params, 4.0)
    readings = run(m, 0, 30, loudness=0.0, pitch=0.0, tilt=0.0, rate=0.0, pitch_range=0.0)
    assert len(readings) == 2 * 120  # 4 per second per role
    assert max(r.score for r in readings) < params.thresholds["tense"]
    assert {r.level for r in readings} == {"calm"}


def test_sustained_vocal_arousal_reaches_heated_then_decays_with_hysteresis(params):
    m = EscalationMeter(("agent", "customer"), params, 4.0)
    run(m, 0, 10, loudness=0.0, pitch=0.0)
    # Louder, higher, with more vocal effort (flatter spectrum: lower Hammarberg index) and a
    # harsher voice (lower harmonicity) than this speaker's own normal.
    aroused = dict(loudness=3.0, pitch=3.0, tilt=2.5, pitch_range=1.5, hammarberg=-2.5, harmonicity=-1.5)
    up = [r for r in run(m, 10, 25, **aroused) if r.role == "customer"]
    assert up[-1].level in ("heated", "critical")
    assert up[-1].contributions["loudness"] > 0 and up[-1].contributions["pitch"] > 0
    # negative weights: lower than normal is escalating, and it counts as evidence for escalation
    assert up[-1].contributions["hammarberg"] > 0 and up[-1].contributions["harmonicity"] > 0
    assert "bias" in up[-1].contributions
    down = [r for r in run(m, 25, 70) if r.role == "customer"]  # silence: evidence fades
    assert down[-1].level == "calm"
    # The level never flickers: a level is held at least the minimum dwell before it drops.
    order = ["calm", "tense", "heated", "critical"]
    changes = [r for r in up + down if r.changed]
    for before, after in zip(changes, changes[1:]):
        if order.index(after.level) < order.index(before.level):
            assert after.t - before.t >= params.min_dwell_s - 1e-9


def test_one_loud_frame_does_not_flip_the_level(params):
    m = EscalationMeter(("customer",), params, 4.0)
    run(m, 0, 10, role="customer", loudness=0.0)
    m.add_frame(frame(10.25, loudness=4.0, pitch=4.0, tilt=4.0))
    readings = run(m, 10.25, 20, role="customer", loudness=0.0)
    assert all(r.level in ("calm", "tense") for r in readings)


def test_cues_add_decay_and_are_capped(params):
    m = EscalationMeter(("agent", "customer"), params, 4.0)
    for _ in range(10):  # ten anger words at once count at most cue_cap times one
        m.add_cue(Cue(t=1.0, role="customer", kind="anger", weight=0.9, evidence="ridiculous", target="customer"))
    r1 = [r for r in m.advance(1.0) if r.role == "customer"][-1]
    assert r1.contributions["text:anger"] == pytest.approx(params.cue_cap * 0.9, abs=0.01)
    single = EscalationMeter(("customer",), params, 4.0)
    single.add_cue(Cue(t=1.0, role="customer", kind="anger", weight=0.9, evidence="ridiculous", target="customer"))
    r2 = run(single, 0.0, 1.0 + params.cue_half_life_s, role="customer")[-1]
    assert r2.contributions["text:anger"] == pytest.approx(0.9 / 2, abs=0.02)


def test_agent_cue_moves_the_customer_meter(params):
    m = EscalationMeter(("agent", "customer"), params, 4.0)
    m.add_cue(Cue(t=0.5, role="agent", kind="calm_down", weight=0.8, evidence="calm down", target="customer"))
    rs = m.advance(1.0)
    assert "text:calm_down" in next(r for r in rs if r.role == "customer").contributions
    assert "text:calm_down" not in next(r for r in rs if r.role == "agent").contributions


def test_deescalating_cues_pull_down(params):
    m = EscalationMeter(("customer",), params, 4.0)
    m.add_cue(Cue(t=0.0, role="agent", kind="apology", weight=-0.5, evidence="sorry", target="customer"))
    r = m.advance(2.0)[-1]
    assert r.contributions["text:apology"] < 0
    assert r.score < 100 / (1 + 2.718281828 ** -params.bias)


def test_a_negative_weight_mirrors_the_z_score_within_the_clip_bounds(params):
    import dataclasses

    p = dataclasses.replace(params, weights={"harmonicity": -1.0})
    for z, expected in ((-2.0, 2.0), (2.0, -1.0), (-9.0, 4.0)):  # clip bounds [-1, 4] apply after mirroring
        m = EscalationMeter(("customer",), p, 4.0)
        readings = run(m, 0, 20, harmonicity=z)
        assert readings[-1].contributions["harmonicity"] == pytest.approx(expected, abs=0.01)


def test_a_prior_for_an_unknown_feature_is_a_config_error(tmp_path):
    from importlib import resources

    from voicemon.errors import ConfigError

    text = resources.files("voicemon.models").joinpath("meter.toml").read_text()
    bad = tmp_path / "meter.toml"
    bad.write_text(text.replace("[priors]\n", "[priors]\nshimmer = [1.0, 1.0, 0.5]\n"))
    with pytest.raises(ConfigError, match="unknown prosody feature.*shimmer"):
        load_meter_params(str(bad))
