from voicemon.config import CueOptions
from voicemon.escalation.conversation import ConversationCues
from voicemon.events import SpeechEnded, SpeechStarted


def test_overtalk_is_measured_and_attributed():
    c = ConversationCues(("agent", "customer"), CueOptions(overtalk_min_s=0.8))
    assert c.feed(SpeechStarted(t=1.0, role="agent")) == []
    assert c.feed(SpeechStarted(t=3.0, role="customer")) == []  # customer cuts in
    cues = c.feed(SpeechEnded(t=4.5, role="agent", start=1.0))
    assert [(x.kind, x.role, x.target) for x in cues] == [("overtalk", "customer", "customer")]
    assert "1.5 s" in cues[0].evidence


def test_short_backchannel_is_not_overtalk():
    c = ConversationCues(("agent", "customer"), CueOptions(overtalk_min_s=0.8))
    c.feed(SpeechStarted(t=1.0, role="agent"))
    c.feed(SpeechStarted(t=2.0, role="customer"))
    assert c.feed(SpeechEnded(t=2.4, role="customer", start=2.0)) == []


def test_dead_air_once_per_silence():
    c = ConversationCues(("agent", "customer"), CueOptions(dead_air_s=5.0))
    c.feed(SpeechStarted(t=0.0, role="customer"))
    c.feed(SpeechEnded(t=2.0, role="customer", start=0.0))
    assert c.advance(6.0) == []
    cues = c.advance(7.5)
    assert [x.kind for x in cues] == ["dead_air"]
    assert c.advance(20.0) == []
    c.feed(SpeechStarted(t=21.0, role="agent"))
    c.feed(SpeechEnded(t=22.0, role="agent", start=21.0))
    assert [x.kind for x in c.advance(28.0)] == ["dead_air"]


def test_no_dead_air_before_anyone_spoke_and_mono_has_no_overtalk():
    c = ConversationCues(("mixed",), CueOptions(dead_air_s=5.0))
    assert c.advance(60.0) == []
    c.feed(SpeechStarted(t=61.0, role="mixed"))
    assert c.feed(SpeechEnded(t=62.0, role="mixed", start=61.0)) == []
    assert [x.role for x in c.advance(70.0)] == ["mixed"]


def test_monologue():
    c = ConversationCues(("agent", "customer"), CueOptions(monologue_s=30.0))
    c.feed(SpeechStarted(t=0.0, role="customer"))
    for t in range(5, 40, 5):
        c.feed(SpeechEnded(t=t - 0.5, role="customer", start=t - 5))
        c.feed(SpeechStarted(t=float(t), role="customer"))
    cues = c.advance(35.0)
    assert [(x.kind, x.role) for x in cues] == [("monologue", "customer")]
