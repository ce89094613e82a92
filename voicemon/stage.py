"""The stage contract: every streaming stage is a synchronous object fed in media-time order.

A stage takes one input at a time with ``feed`` and, at the end of the stream, gives what it
still holds with ``flush``; both return what became known (events, jobs, chunks), never block,
never read a clock and never do I/O (DESIGN.md §2). The offline fold, the live driver and the
tests drive the same objects, which is why ``analyze`` equals a lockstep ``replay``.

Stages that keep this contract (checked in ``tests/test_stage_contract.py``):
:class:`~voicemon.audio.segmenter.UtteranceSegmenter` (chunk -> speech events and ASR jobs),
:class:`~voicemon.session.SignalStages` and :class:`~voicemon.session.CallSession` (chunk ->
:class:`~voicemon.session.Step`), :class:`~voicemon.live.mono.LiveMonoSession` and the online
speaker tracker of :mod:`voicemon.audio.diarize_online` (mixed chunk -> routed chunks). Stages
fed something other than audio name their method after what they take (``feed_asr``) or after
media time (``advance(t)``), so one ``feed`` never means two things on one object.
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

In_contra = TypeVar("In_contra", contravariant=True)
Out_co = TypeVar("Out_co", covariant=True)


@runtime_checkable
class Stage(Protocol[In_contra, Out_co]):
    """A synchronous streaming stage (see the module docstring)."""

    def feed(self, item: In_contra, /) -> Out_co:
        """Take the next input (in media-time order); return what it made known."""
        ...

    def flush(self) -> Out_co:
        """End of the stream: return what the stage still holds."""
        ...
