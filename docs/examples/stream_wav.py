"""Stream a WAV file into `voicemon serve` as a call (docs/protocol.md, /ingest).

    python docs/examples/stream_wav.py call.wav --url ws://127.0.0.1:8765 --call-id demo-1 --speed 1
    python docs/examples/stream_wav.py audio_fixtures/escalating_call_mulaw8k.wav --agent-id sarah --speed 2

A stereo file is sent as agent (left) and customer (right); a mono file as one mixed channel.
16-bit PCM and 8-bit G.711 mu-law WAV files are sent as they are (`pcm_s16le` / `mulaw`).
`--speed max` uploads in lockstep mode (as fast as the server analyses; same result as
`voicemon analyze`). `--agent-id`, `--agent-name`, `--queue`, `--customer-ref` and
`--meta KEY=VALUE` are the call's metadata (`/?agent=ID` follows that agent's calls).
Ctrl-C ends the call cleanly (the server writes its report). Needs only `websockets` and the
standard library.
"""

import argparse
import asyncio
import json
import struct
import sys
import time

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI

WAVE_PCM, WAVE_MULAW, WAVE_EXTENSIBLE = 1, 7, 0xFFFE


def read_wav(path: str) -> tuple[str, int, int, bytes]:
    """``(encoding, sample_rate, channels, data)`` of a 16-bit PCM or 8-bit mu-law WAV file.

    Raises:
        ValueError: not a RIFF/WAVE file, or another sample format.
    """
    with open(path, "rb") as f:
        riff = f.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            raise ValueError(f"{path}: not a WAV file")
        fmt = data = None
        while True:
            head = f.read(8)
            if len(head) < 8:
                break
            name, size = head[:4], struct.unpack("<I", head[4:])[0]
            body = f.read(size + (size & 1))[:size]
            if name == b"fmt ":
                fmt = body
            elif name == b"data":
                data = body
    if fmt is None or data is None or len(fmt) < 16:
        raise ValueError(f"{path}: no fmt or data chunk")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == WAVE_EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # the sub-format GUID starts with the format tag
    if tag == WAVE_PCM and bits == 16:
        encoding, width = "pcm_s16le", 2
    elif tag == WAVE_MULAW and bits == 8:
        encoding, width = "mulaw", 1
    else:
        raise ValueError(f"{path}: format {tag} with {bits}-bit samples; this example sends 16-bit PCM or 8-bit mu-law")
    if channels not in (1, 2):
        raise ValueError(f"{path}: {channels} channels; voicemon takes 1 or 2")
    frame = width * channels
    return encoding, rate, channels, data[:len(data) - len(data) % frame]


def metadata(args) -> dict:
    """The start message's metadata fields from the flags."""
    out = {k: v for k, v in (("agent_id", args.agent_id), ("agent_name", args.agent_name), ("queue", args.queue),
                             ("customer_ref", args.customer_ref)) if v}
    if args.meta:
        out["meta"] = dict(item.split("=", 1) for item in args.meta)
    return out


async def stream(args) -> int:
    encoding, rate, channels, audio = read_wav(args.wav)
    lockstep = args.speed == "max"
    speed = None if lockstep else float(args.speed)
    url = args.url.rstrip("/") + "/ingest" + (f"?token={args.token}" if args.token else "")
    call_id = args.call_id or args.wav.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    width = 2 if encoding == "pcm_s16le" else 1
    frame_bytes = rate * args.frame_ms // 1000 * width * channels
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps({
            "type": "start", "v": 1, "call_id": call_id, "encoding": encoding, "sample_rate": rate,
            "channels": channels, "roles": ["agent", "customer"] if channels == 2 else ["mixed"],
            "mode": "lockstep" if lockstep else "live", **metadata(args),
        }))
        started = json.loads(await ws.recv())
        print(json.dumps(started), flush=True)
        if started.get("type") == "error":
            return 1
        t0 = time.monotonic()
        try:
            for i, offset in enumerate(range(0, len(audio), frame_bytes)):
                await ws.send(audio[offset:offset + frame_bytes])
                if speed:
                    delay = t0 + (i + 1) * args.frame_ms / 1000 / speed - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
        except asyncio.CancelledError:  # Ctrl-C: end the call properly, then stop
            print("interrupted: ending the call", file=sys.stderr)
        await ws.send(json.dumps({"type": "end", "v": 1}))
        ended = json.loads(await ws.recv())
        print(json.dumps(ended), flush=True)
        return 0 if ended.get("type") == "ended" else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wav", help="16-bit PCM or 8-bit mu-law WAV, 1 or 2 channels, 8-48 kHz")
    parser.add_argument("--url", default="ws://127.0.0.1:8765")
    parser.add_argument("--call-id", default=None)
    parser.add_argument("--token", default=None)
    parser.add_argument("--speed", default="1", help="1 = real time, 4 = four times faster, max = lockstep upload")
    parser.add_argument("--frame-ms", type=int, default=20)
    parser.add_argument("--agent-id")
    parser.add_argument("--agent-name")
    parser.add_argument("--queue")
    parser.add_argument("--customer-ref")
    parser.add_argument("--meta", action="append", metavar="KEY=VALUE", help="free call metadata (repeatable)")
    args = parser.parse_args()
    if args.meta and not all("=" in m for m in args.meta):
        parser.error("--meta takes KEY=VALUE")
    try:
        return asyncio.run(stream(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        print(f"stream_wav: {exc}", file=sys.stderr)
        return 1
    except InvalidStatus as exc:
        print(f"stream_wav: the server refused the connection (HTTP {exc.response.status_code})", file=sys.stderr)
        return 1
    except InvalidURI as exc:
        print(f"stream_wav: {exc}", file=sys.stderr)
        return 2
    except ConnectionClosed as exc:
        reason = exc.rcvd.reason if exc.rcvd else "no close frame"
        code = exc.rcvd.code if exc.rcvd else 1006
        print(f"stream_wav: the server closed the call ({code} {reason})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
