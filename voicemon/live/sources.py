"""Where live audio comes from: a recording paced like a call, or a sound device.

Both feed :class:`~voicemon.live.runner.LiveCall` objects chunk by chunk on the event loop.
sounddevice (and so PortAudio) is imported only when a device is used: a machine without
PortAudio can still replay files and serve.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any


from voicemon.audio.decode import DecodedAudio, iter_chunks
from voicemon.errors import DeviceError
from voicemon.events import SAMPLE_RATE_HZ
from voicemon.live.runner import LiveCall

log = logging.getLogger(__name__)

PORTAUDIO_FIX = "install PortAudio (Debian/Ubuntu: sudo apt-get install libportaudio2; macOS: brew install portaudio)"


def parse_speed(text: str) -> float | None:
    """``--speed`` value: a positive factor, or ``max`` (``None``: as fast as possible, lockstep).

    Raises:
        ValueError: not a positive number or ``max``.
    """
    if text.strip().lower() == "max":
        return None
    speed = float(text)
    if not speed > 0:
        raise ValueError(f"speed must be positive or 'max', not {text!r}")
    return speed


async def replay(call: LiveCall, audio: DecodedAudio, chunk_ms: int, speed: float | None,
                 stop: asyncio.Event | None = None) -> bool:
    """Feed a decoded recording into a live call, paced like the real call.

    Args:
        call: the call to feed.
        audio: the recording.
        chunk_ms: chunk length.
        speed: 1.0 = real time, 2.0 = twice as fast, ``None`` = as fast as the stages allow,
            waiting for every transcription before the next chunk (lockstep).
        stop: set to stop early (Ctrl-C).

    Returns:
        True if the whole recording was fed, False if stopped early.
    """
    wall0 = time.perf_counter()
    if speed:
        call.set_pace(wall0, 0.0, speed)
    for i, chunk in enumerate(iter_chunks(audio, chunk_ms)):
        if stop is not None and stop.is_set():
            return False
        if speed:
            due = wall0 + chunk.t1 / speed
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            call.feed(chunk, received=due)
        else:
            call.feed(chunk)
            await call.settle()
            if i % 50 == 0:
                await asyncio.sleep(0)
    return True


def _import_sounddevice():
    try:
        import sounddevice as sd
    except OSError as exc:  # sounddevice raises OSError when libportaudio is missing
        raise DeviceError(f"no audio device support: {exc}; {PORTAUDIO_FIX}") from exc
    except ImportError as exc:
        raise DeviceError(f"the sounddevice package is missing ({exc}); pip install sounddevice") from exc
    return sd


def list_input_devices() -> list[dict[str, Any]]:
    """Input-capable sound devices: index, name, channels, default rate.

    Raises:
        DeviceError: PortAudio is missing.
    """
    sd = _import_sounddevice()
    out = []
    for i, dev in enumerate(sd.query_devices()):
        if dev.get("max_input_channels", 0) > 0:
            out.append({"index": i, "name": dev["name"], "channels": dev["max_input_channels"],
                        "rate_hz": dev.get("default_samplerate")})
    return out


class DeviceInput:
    """Capture from a sound device into a live call.

    One channel is role ``mixed``; two channels are ``roles`` (default ``agent`` first, then
    ``customer``).

    Args:
        device: index or name substring (``None``: the system default input).
        channels: 1 or 2.
        chunk_ms: block length.
        roles: the roles of two channels, left first (``[audio] channels`` / ``--channels``).

    Raises:
        DeviceError: no PortAudio, no such device, or no input device at all.
    """

    def __init__(self, device: str | int | None, channels: int, chunk_ms: int,
                 roles: tuple[str, str] = ("agent", "customer")) -> None:
        if channels not in (1, 2):
            raise DeviceError(f"--input-channels must be 1 (mixed) or 2 ({','.join(roles)}), not {channels}")
        self.sd = _import_sounddevice()
        try:
            info = self.sd.query_devices(device, kind="input")
        except Exception as exc:
            raise DeviceError(f"no input device {device!r} ({exc}); see `voicemon listen --list-devices`") from exc
        if info.get("max_input_channels", 0) < channels:
            raise DeviceError(f"device {info['name']!r} has {info.get('max_input_channels', 0)} input channel(s), "
                              f"{channels} needed")
        self.device = device
        self.info = info
        self.channels = channels
        self.rate_hz = int(info.get("default_samplerate") or SAMPLE_RATE_HZ)
        self.chunk_ms = chunk_ms
        self.roles = ("mixed",) if channels == 1 else tuple(roles)

    async def run(self, call: LiveCall, stop: asyncio.Event) -> None:
        """Capture until ``stop`` is set, feeding ``call`` through the audio edge (the chunks a
        recording of the same audio would give ``analyze``)."""
        from voicemon.audio.stream_edge import StreamEdge

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue(maxsize=200)

        def callback(indata, frames, time_info, status):  # PortAudio thread
            if status:
                log.warning("audio input: %s", status)
            stamp = time.perf_counter()
            loop.call_soon_threadsafe(_put_latest, queue, (indata.copy(), stamp))

        edge = StreamEdge(tuple(self.roles), self.rate_hz, self.chunk_ms)
        block = max(1, int(self.rate_hz * self.chunk_ms / 1000))
        try:
            stream = self.sd.InputStream(device=self.device, channels=self.channels, samplerate=self.rate_hz,
                                         blocksize=block, dtype="float32", callback=callback)
        except Exception as exc:
            raise DeviceError(f"cannot open input device {self.info['name']!r}: {exc}") from exc
        with stream:
            call.set_pace(time.perf_counter(), 0.0, 1.0)
            while not stop.is_set():
                try:
                    data, stamp = await asyncio.wait_for(queue.get(), 0.25)
                except asyncio.TimeoutError:
                    continue
                for i, role in enumerate(self.roles):
                    for chunk in edge.feed(role, data[:, i]):
                        call.feed(chunk, received=stamp)
        for chunk in edge.flush():  # the last partial chunk and the resamplers' tail
            call.feed(chunk)


def _put_latest(queue: asyncio.Queue, item) -> None:
    if queue.full():  # the loop is far behind: drop the oldest block rather than grow
        queue.get_nowait()
    queue.put_nowait(item)
