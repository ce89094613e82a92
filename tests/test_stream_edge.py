"""The one audio edge (voicemon/audio/stream_edge.py): streaming == whole-file, chunks on one grid."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import FIXTURES


def _pieces(x: np.ndarray, sizes: list[int]):
    at, i = 0, 0
    while at < len(x):
        n = sizes[i % len(sizes)]
        yield x[at:at + n]
        at, i = at + n, i + 1


@pytest.mark.parametrize("rate_hz", [8000, 22050, 44100, 48000])
def test_streaming_resampler_is_bit_identical_to_the_whole_signal_however_it_is_cut(rate_hz):
    from voicemon.audio.stream_edge import StreamResampler, resample

    x = (0.3 * np.random.default_rng(rate_hz).standard_normal(rate_hz * 3 + 77)).astype(np.float32)
    whole = resample(x, rate_hz)
    for sizes in ([rate_hz // 50], [7, 1000, 3], [len(x)]):
        r = StreamResampler(rate_hz)
        out = np.concatenate([r.feed(p) for p in _pieces(x, sizes)] + [r.feed(np.zeros(0, np.float32), last=True)])
        assert np.array_equal(out, whole), sizes


def test_chunker_cuts_on_the_call_grid_whatever_the_sources_frames():
    from voicemon.audio.decode import DecodedAudio, iter_chunks
    from voicemon.audio.stream_edge import StreamEdge

    rng = np.random.default_rng(0)
    signals = {r: rng.standard_normal(16000 * 2 + 555).astype(np.float32) for r in ("agent", "customer")}
    expected = list(iter_chunks(DecodedAudio(signals, 16000, 2, "test"), 100))
    assert [len(c.samples) for c in expected[:2]] == [1600, 1600] and len(expected[-1].samples) == 555
    edge = StreamEdge(("agent", "customer"), 16000, 100)
    # the two roles arrive in different, uneven bursts: the customer runs ahead, then waits
    bursts = {"agent": list(_pieces(signals["agent"], [320, 17, 4000])),
              "customer": list(_pieces(signals["customer"], [999, 5]))}
    got, held_back = [], False
    for i in range(max(len(b) for b in bursts.values())):
        for role in ("customer", "agent"):
            if i < len(bursts[role]):
                out = edge.feed(role, bursts[role][i])
                held_back |= role == "customer" and not out and edge.chunker._have[role] - edge.chunker._released >= 1600
                got += out
    got += edge.flush()
    assert held_back  # a span is released only when every role has it
    assert [(c.role, c.start_sample, len(c.samples)) for c in got] == [(c.role, c.start_sample, len(c.samples)) for c in expected]
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(got, expected))


def test_twilio_media_of_a_mulaw_file_reach_the_stages_as_analyze_chunks(tmp_path):
    """Sans I/O: the file's G.711 codes as Twilio media -> the very chunks ``analyze`` feeds."""
    import soundfile as sf

    from server_helpers import twilio_messages
    from telephony_helpers import wav_data_chunk
    from voicemon.audio.decode import iter_chunks, load_call_audio
    from voicemon.server.ingest import TwilioTracks

    data, rate = sf.read(FIXTURES / "escalating_call_stereo.wav", dtype="float32", always_2d=True, frames=16000 * 20)
    from voicemon.audio.stream_edge import resample

    path = tmp_path / "call_mulaw8k.wav"
    sf.write(path, np.stack([resample(data[:, i], rate, 8000) for i in range(2)], axis=1), 8000, subtype="ULAW")
    codes = np.frombuffer(wav_data_chunk(path.read_bytes()), np.uint8).reshape(-1, 2)
    expected = list(iter_chunks(load_call_audio(path), 100))
    tracks = TwilioTracks(["inbound", "outbound"], 100)
    got = []
    for m in twilio_messages(codes)[2:-1]:
        got += tracks.media(m["media"])
    got += tracks.flush()
    assert [(c.role, c.start_sample, len(c.samples)) for c in got] == [(c.role, c.start_sample, len(c.samples)) for c in expected]
    assert all(np.array_equal(a.samples, b.samples) for a, b in zip(got, expected))


def test_twilio_mode_parameter_is_live_or_lockstep_and_not_metadata():
    from voicemon.errors import ProtocolError
    from voicemon.server.twilio import parse_twilio_start

    def start(**params):
        return {"event": "start", "streamSid": "MZ1", "start": {"callSid": "CA1", "tracks": ["inbound", "outbound"],
                                                                "customParameters": params}}

    assert parse_twilio_start(start(), None).mode == "live"
    parsed = parse_twilio_start(start(mode="lockstep", shop="north"), None)
    assert parsed.mode == "lockstep" and "mode" not in parsed.metadata.get("meta", {})
    with pytest.raises(ProtocolError) as err:
        parse_twilio_start(start(mode="fast"), None)
    assert err.value.code == "bad_message"
