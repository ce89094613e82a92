"""Prompt outcomes (issue 14 M6), ASR lag (M9) and mono wording (L5) of the report model: pure,
on hand-made event logs."""

from __future__ import annotations

import pytest

from voicemon import config as cfg
from voicemon.escalation.coach import Coach, load_playbook, outcome_party
from voicemon.escalation.meter import load_meter_params
from voicemon.events import Cue, from_dict
from voicemon.report.html import render_html
from voicemon.report.model import asr_lag, build_report

CONFIG = cfg.load(environ={})
PARAMS = load_meter_params(CONFIG.meter.params)


def _level(score: float) -> str:
    return "critical" if score >= 80 else "heated" if score >= 60 else "tense" if score >= 35 else "calm"


def _readings(curve, role: str, duration_s: float = 60.0) -> list[dict]:
    return [{"type": "reading", "t": i / 4, "role": role, "score": round(curve(i / 4), 2), "level": _level(curve(i / 4)),
             "changed": False, "contributions": {"bias": -2.0}, "trend": 0.0} for i in range(int(duration_s * 4))]


def _prompt(t: float, kind: str, text: str = "x") -> dict:
    return {"type": "prompt", "t": t, "id": f"p-{kind}", "kind": kind, "text": text, "technique": "t", "priority": 1,
            "reason": "r", "expires_at": t + 10}


def _report(events: list[dict], roles=("agent", "customer"), duration_s: float = 60.0, **meta) -> dict:
    base = {"source": "x.wav", "duration_s": duration_s, "roles": list(roles), "audio": {}, "model": {"name": "m"},
            "config": CONFIG.to_dict()}
    return build_report([from_dict(e) for e in events], {**base, **meta}, PARAMS)


def test_each_rule_says_whose_meter_judges_it_and_the_goal():
    plan = {rule.id: outcome_party(rule) for rule in load_playbook()}
    assert plan["breathe"] == ("agent", "fall")  # "Breathe — slow down" is about the agent's voice
    assert plan["thank"] == ("caller", "stay")  # fires because the meter fell
    assert plan["acknowledge"] == plan["no_hold"] == plan["can_do"] == ("caller", "fall")


def test_breathe_is_judged_on_the_agents_meter():
    # The caller climbs all along; the agent was tense at the prompt and calms down.
    events = (_readings(lambda t: 20 + t, "customer")
              + _readings(lambda t: 45 if t < 12 else 20, "agent") + [_prompt(10.0, "breathe")])
    events.sort(key=lambda e: e["t"])
    out = _report(events)["prompts"][0]["outcome"]
    assert out["role"] == "agent" and out["goal"] == "fall"
    assert out["score_at"] == 45 and out["score_after"] == 20 and out["success"] is True
    assert out["summary"].startswith("Agent's meter fell 25.0 points")


def test_a_thank_prompt_gets_no_credit_for_the_fall_that_fired_it():
    # The caller fell from critical before the prompt and keeps drifting down after it.
    falling = lambda t: max(10.0, 90 - 2.5 * t)  # noqa: E731
    events = sorted(_readings(falling, "customer") + _readings(lambda t: 15, "agent") + [_prompt(14.0, "thank")],
                    key=lambda e: e["t"])
    report = _report(events)
    out = report["prompts"][0]["outcome"]
    assert out["goal"] == "stay" and out["fell"] is True  # the drift is a fall ...
    assert out["success"] is True and "stayed below heated" in out["summary"]  # ... but it is judged on staying down
    assert report["stats"]["prompts_followed_by_fall"] == 0  # no credit for the drift
    assert report["stats"]["prompts_effective"] == 1
    # Back up to heated 10 s after the prompt: it did not work.
    bounce = lambda t: falling(t) if t < 24 else 70.0  # noqa: E731
    events = sorted(_readings(bounce, "customer") + _readings(lambda t: 15, "agent") + [_prompt(14.0, "thank")],
                    key=lambda e: e["t"])
    out = _report(events)["prompts"][0]["outcome"]
    assert out["success"] is False and out["summary"] == "Caller's meter back to heated 10 s after the prompt (score 70)"


@pytest.mark.parametrize("after,success,words", [
    (16.6, False, "fell only 4.8 points in 30 s (21.4 → 16.6; 5 needed)"),
    (16.4, True, "fell 5.0 points in 30 s (21.4 → 16.4)"),
    (40.0, False, "rose 18.6 points in 30 s (21.4 → 40.0)"),
])
def test_outcome_wording_never_contradicts_its_mark(after, success, words):
    curve = lambda t: 21.4 if t < 20 else after  # noqa: E731
    events = sorted(_readings(curve, "customer") + _readings(lambda t: 10, "agent") + [_prompt(10.0, "acknowledge")],
                    key=lambda e: e["t"])
    report = _report(events)
    out = report["prompts"][0]["outcome"]
    assert out["success"] is success and out["summary"] == "Caller's meter " + words
    assert "5 points within 30 s" in out["criterion"]
    page = render_html(report)
    assert ("✓ worked" in page) is success and ("✗ did not work" in page) is not success
    assert "did not fall" not in page


def test_asr_lag_is_measured_from_the_end_of_speech_in_media_time():
    events = [{"type": "transcript", "t": end + lag, "role": "customer", "utterance_id": f"c-{i}", "start": end - 1,
               "end": end, "text": "words", "words": [], "final": True}
              for i, (end, lag) in enumerate([(2.0, 0.5), (6.0, 1.0), (9.0, 4.0), (15.0, 0.7)])]
    events.append({"type": "transcript", "t": 20.0, "role": "customer", "utterance_id": "c-9", "start": 18, "end": 19,
                   "text": "tentative", "words": [], "final": False})
    lag = asr_lag([from_dict(e) for e in events])
    assert lag == {"count": 4, "median": 1.0, "p90": 4.0, "max": 4.0}
    assert asr_lag([]) == {"count": 0, "median": None, "p90": None, "max": None}
    live = _report(events + _readings(lambda t: 10, "customer") + _readings(lambda t: 10, "agent"), call_id="c1")
    assert live["stats"]["asr_lag_s"]["p90"] == 4.0
    page = render_html(live)
    assert "ASR lag" in page and "lag-note" in page and "voicemon analyze x.wav" in page
    # An offline report (no call id) does not nag.
    assert "lag-note" not in render_html({**live, "call_id": None})


def test_mono_wording_names_the_call_not_someone():
    coach = Coach(load_playbook(), "mixed", None)
    coach.caller_level = "heated"
    prompts = coach.on_cue(Cue(t=5.0, role="mixed", kind="hold_request", weight=0.3, evidence="put you on hold",
                               source="text", target="mixed"), 5.0)
    assert prompts and "someone" not in prompts[0].reason
    assert prompts[0].reason.startswith("“put you on hold” was said on the call")
    page = render_html({"roles": ["mixed"], "readings": [{"t": 1.0, "role": "mixed", "score": 50}],
                        "transcript": [{"role": "mixed", "start": 0.5, "end": 2.0, "text": "hello"}]})
    assert "mixed peak" not in page.lower() and "Call (both voices) peak" in page


def test_contributions_hide_the_bias_bar_and_a_calm_agent_and_flag_an_escalated_agent():
    from test_report_html import small_report

    report = small_report()  # the agent stayed calm (peak 15)
    page = render_html(report)
    contributions = page.split("Contributions at peak", 1)[1].split("<h2>Transcript", 1)[0]
    assert 'title="bias"' not in contributions and "resting point" in contributions  # in the sum, not a bar
    assert "threat to cancel" in contributions and 'title="text:threat_cancel"' in contributions  # human label
    assert "The agent stayed calm" in contributions and "Agent — score" not in contributions
    assert "agent-note" not in page
    # The agent's own meter climbs above the caller's: said at the top and explained below.
    report["stats"]["per_role"]["agent"].update(peak_score=95.0, peak_level="critical")
    for r in report["readings"]:
        if r["role"] == "agent":
            r["score"], r["level"] = 95.0, "critical"
    page = render_html(report)
    assert "agent-note" in page and "above the caller" in page
    assert "Agent — score 95" in page and "The agent stayed calm" not in page
