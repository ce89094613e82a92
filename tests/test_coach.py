import pytest

from voicemon.escalation.coach import Coach, load_playbook
from voicemon.events import Cue, EscalationReading


@pytest.fixture()
def coach():
    return Coach(load_playbook(), caller_role="customer", agent_role="agent")


def reading(t, level, role="customer", score=None, changed=True):
    scores = {"calm": 10, "tense": 45, "heated": 70, "critical": 85}
    return EscalationReading(t=t, role=role, score=score or scores[level], level=level, changed=changed,
                             contributions={"bias": -2.4, "loudness": 1.2})


def cue(kind, role, t=0.0, evidence="x"):
    return Cue(t=t, role=role, kind=kind, weight=0.5, evidence=evidence, target="customer")


def test_bundled_playbook_has_the_core_techniques():
    ids = {r.id for r in load_playbook()}
    assert {"breathe", "no_hold", "repeat_back", "acknowledge", "can_do", "boundary", "thank"} <= ids


def test_hold_request_fires_only_when_caller_is_upset(coach):
    assert coach.on_cue(cue("hold_request", "agent", evidence="put you on hold"), 5.0) == []
    coach.on_reading(reading(6.0, "heated"))
    prompts = coach.on_cue(cue("hold_request", "agent", evidence="put you on hold"), 6.5)
    assert [p.kind for p in prompts] == ["no_hold"]
    p = prompts[0]
    assert p.text == "Don't put them on hold" and "put you on hold" in p.reason and "heated" in p.reason
    assert p.expires_at > p.t and p.technique


def test_level_entry_and_priority_and_cooldown(coach):
    first = coach.on_reading(reading(10.0, "heated"))
    assert [p.kind for p in first] == ["acknowledge"]
    # a higher-priority prompt replaces the live one
    assert [p.kind for p in coach.on_cue(cue("repetition", "customer"), 11.0)] == ["repeat_back"]
    # a lower-priority one does not, while the higher one is up
    assert coach.on_cue(cue("dead_air", "agent"), 12.0) == []
    # same rule inside its cooldown: nothing; after it: fires again
    assert coach.on_cue(cue("repetition", "customer"), 30.0) == []
    assert [p.kind for p in coach.on_cue(cue("repetition", "customer"), 60.0)] == ["repeat_back"]


def test_thank_when_the_caller_cools_down(coach):
    coach.on_reading(reading(10.0, "heated"))
    prompts = coach.on_reading(reading(40.0, "tense"))
    assert [p.kind for p in prompts] == ["thank"]


def test_agent_arousal_prompts_breathe(coach):
    prompts = coach.on_reading(reading(5.0, "tense", role="agent"))
    assert [p.kind for p in prompts] == ["breathe"] and "loudness" in prompts[0].reason


def test_malformed_playbook(tmp_path):
    from voicemon.errors import ConfigError

    f = tmp_path / "p.toml"
    f.write_text('[[rule]]\nid = "x"\ntext = "t"\ntechnique = "t"\npriority = 1\n')
    with pytest.raises(ConfigError, match="no trigger"):
        load_playbook(str(f))
    f.write_text('[[rule]]\nid = "x"\ntext = "t"\ntechnique = "t"\npriority = 1\non_level = "furious"\n')
    with pytest.raises(ConfigError, match="unknown level"):
        load_playbook(str(f))


def test_a_blocked_level_prompt_waits_for_the_higher_one_to_expire(coach):
    coach.on_reading(reading(9.0, "tense"))
    # the agent recites policy: "Say what you CAN do" (priority 70) is up until 22 s
    can_do = coach.on_cue(cue("policy", "agent", t=10.0, evidence="it is our policy"), 10.0)
    assert [p.kind for p in can_do] == ["can_do"]
    # the caller turns heated while it is up: "Acknowledge the feeling" (60) cannot replace it ...
    assert coach.on_reading(reading(12.0, "heated")) == []
    assert coach.on_reading(reading(16.0, "heated", changed=False)) == []
    # ... and fires once it has expired, since the caller is still heated
    later = coach.on_reading(reading(can_do[0].expires_at + 0.25, "heated", changed=False))
    assert [p.kind for p in later] == ["acknowledge"] and "still heated" in later[0].reason


def test_a_pending_level_prompt_is_dropped_when_the_caller_calms(coach):
    coach.on_reading(reading(9.0, "tense"))
    coach.on_cue(cue("policy", "agent", t=10.0), 10.0)
    coach.on_reading(reading(12.0, "heated"))
    assert coach.on_reading(reading(20.0, "tense")) == []  # fell below heated before the expiry
    assert coach.on_reading(reading(30.0, "tense", changed=False)) == []


def test_worried_words_prompt_acknowledge_the_feeling(coach):
    prompts = coach.on_cue(cue("distress", "customer", t=5.0, evidence="i'm so worried"), 5.0)
    assert [p.text for p in prompts] == ["Acknowledge the feeling"]


def test_insults_not_situational_swearing_prompt_a_boundary(coach):
    assert coach.on_cue(cue("profanity", "customer", evidence="this damn printer"), 5.0) == []
    assert [p.kind for p in coach.on_cue(cue("insult", "customer", evidence="you're useless"), 6.0)] == ["boundary"]
