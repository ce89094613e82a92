"""Which of two diarized speakers is the agent: from their words and the turn structure.

Agents greet, name themselves and the company, offer help, ask for account details, put people
on hold, make offers and close the call; customers say why they are calling and talk about *my*
account, car or bill. Each phrase found in a speaker's transcript adds its weight (negative for
customer phrases); whoever speaks first gets a small bonus (inbound calls open with the agent's
greeting). The difference of the two speakers' scores decides, and its size is the confidence.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

FIRST_SPEAKER_BONUS = 1.0
CONFIDENCE_SCALE = 2.0
"""Score difference at which the confidence is 1 / (1 + e^-1) ~ 0.73."""

AGENT_PHRASES: tuple[tuple[str, float], ...] = (
    (r"thank(s| you) for calling", 3.0),
    (r"(how|what) (can|may|could) i (help|assist|do for) you", 3.0),
    (r"welcome to", 2.0),
    (r"my name is", 1.0),
    (r"this is \w+( \w+)? (speaking|from|with)", 1.5),
    (r"(can|may|could) i (have|get|take|confirm|verify) (your|the) (full )?(name|account|phone|number|email|"
     r"address|date of birth|zip|post ?code|reference|order|vin|policy)", 2.5),
    (r"(what is|what's) your (name|account|phone|number|email|address|zip)", 2.0),
    (r"let me (check|look|pull|see|find|get)", 1.5),
    (r"(put|place) you on (a brief |a quick |a short )?hold", 2.5),
    (r"(bear with me|one moment|just a moment)", 1.0),
    (r"(i|we) can (offer|do|schedule|send|set you up)", 1.5),
    (r"what i can do", 2.0),
    (r"i'd be (happy|glad) to", 1.5),
    (r"is there anything else", 2.5),
    (r"thank you for (your patience|holding|waiting)", 2.0),
    (r"(sorry|apologi[sz]e) for the (inconvenience|wait|trouble)", 1.0),
    (r"have a (great|nice|good|wonderful) (day|evening|weekend)", 1.0),
)
CUSTOMER_PHRASES: tuple[tuple[str, float], ...] = (
    (r"i('m| am) calling (about|because|to|regarding)", 2.0),
    (r"i (called|phoned) (before|yesterday|last|earlier)", 1.5),
    (r"\bmy (car|account|bill|order|card|phone|service|subscription|vehicle|truck)\b", 0.7),
    (r"i (want|need|would like|'d like) to (cancel|speak|talk|return|know|ask)", 1.5),
    (r"can you (help|tell|check)", 1.0),
)


@dataclass(frozen=True)
class RoleChoice:
    """Who the agent is and how sure.

    Attributes:
        agent_speaker: 0 (the first to speak) or 1.
        confidence: 0.5 (a guess) to 1.0.
        method: ``words+turns`` or ``flag`` (``--agent-speaker first|second``).
        scores: agent score of speaker 0 and speaker 1.
        evidence: the phrases that counted, ``"speaker 1: thank you for calling (+3.0)"``.
    """

    agent_speaker: int
    confidence: float
    method: str
    scores: tuple[float, float] = (0.0, 0.0)
    evidence: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        """JSON-ready form (for the report)."""
        return {"agent_speaker": "first" if self.agent_speaker == 0 else "second",
                "confidence": round(self.confidence, 3), "method": self.method,
                "scores": [round(s, 2) for s in self.scores], "evidence": list(self.evidence)}


def agent_score(text: str) -> tuple[float, list[str]]:
    """Agent-likeness of one speaker's words: sum of phrase weights, and which phrases.

    Each phrase counts at most twice, so a speaker who thanks three times is not three times an
    agent.
    """
    text = " ".join(re.sub(r"[^a-z' ]+", " ", text.lower()).split())
    score, found = 0.0, []
    for phrases, sign in ((AGENT_PHRASES, 1.0), (CUSTOMER_PHRASES, -1.0)):
        for pattern, weight in phrases:
            hits = min(2, len(re.findall(pattern, text)))
            if hits:
                score += sign * weight * hits
                match = re.search(pattern, text)
                found.append(f"{match.group(0)} ({sign * weight * hits:+.1f})")
    return score, found


def choose_agent(texts: tuple[str, str], override: str = "auto") -> RoleChoice:
    """Decide which speaker is the agent.

    Args:
        texts: everything speaker 0 (first to speak) and speaker 1 said, in order.
        override: ``auto``, ``first`` or ``second``.

    Returns:
        The choice, its confidence and its evidence.
    """
    if override in ("first", "second"):
        return RoleChoice(agent_speaker=0 if override == "first" else 1, confidence=1.0, method="flag")
    s0, e0 = agent_score(texts[0])
    s1, e1 = agent_score(texts[1])
    s0 += FIRST_SPEAKER_BONUS
    evidence = ["speaker 1: spoke first (+1.0)", *(f"speaker 1: {e}" for e in e0), *(f"speaker 2: {e}" for e in e1)]
    diff = s0 - s1
    confidence = 1.0 / (1.0 + math.exp(-abs(diff) / CONFIDENCE_SCALE))
    return RoleChoice(agent_speaker=0 if diff >= 0 else 1, confidence=confidence, method="words+turns",
                      scores=(s0, s1), evidence=tuple(evidence))
