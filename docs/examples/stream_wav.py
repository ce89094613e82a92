"""Stream a WAV file into `voicemon serve` as a call (docs/protocol.md, /ingest).

    python docs/examples/stream_wav.py call.wav --url ws://127.0.0.1:8765 --call-id demo-1 --speed 1

A stereo file is sent as agent (left) and customer (right); a mono file as one mixed channel.
`--speed max` uploads in lockstep mode (as fast as the server analyses; same result as
`voicemon analyze`). Needs only `websockets` and the standard library.
"""

import argparse
import asyncio
import json
import time
import wave

from websockets.asyncio.client import connect


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wav", help="16-bit PCM WAV, 1 or 2 channels, 8-48 kHz")
    parser.add_argument("--url", default="ws://127.0.0.1:8765")
    parser.add_argument("--call-id", default=None)
    parser.add_argument("--token", default=None)
    parser.add_argument("--speed", default="1", help="1 = real time, 4 = four times faster, max = lockstep upload")
    parser.add_argument("--frame-ms", type=int, default=20)
    args = parser.parse_args()

    with wave.open(args.wav, "rb") as w:
        if w.getsampwidth() != 2:
            raise SystemExit(f"{args.wav}: only 16-bit PCM WAV files are supported by this example")
        rate, channels, audio = w.getframerate(), w.getnchannels(), w.readframes(w.getnframes())
    lockstep = args.speed == "max"
    speed = None if lockstep else float(args.speed)
    url = args.url.rstrip("/") + "/ingest" + (f"?token={args.token}" if args.token else "")
    call_id = args.call_id or args.wav.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    frame_bytes = rate * args.frame_ms // 1000 * 2 * channels
    async with connect(url) as ws:
        await ws.send(json.dumps({
            "type": "start", "v": 1, "call_id": call_id, "encoding": "pcm_s16le", "sample_rate": rate,
            "channels": channels, "roles": ["agent", "customer"] if channels == 2 else ["mixed"],
            "mode": "lockstep" if lockstep else "live",
        }))
        print(await ws.recv())
        t0 = time.monotonic()
        for i, offset in enumerate(range(0, len(audio), frame_bytes)):
            await ws.send(audio[offset:offset + frame_bytes])
            if speed:
                delay = t0 + (i + 1) * args.frame_ms / 1000 / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        await ws.send(json.dumps({"type": "end", "v": 1}))
        print(await ws.recv())


if __name__ == "__main__":
    asyncio.run(main())
