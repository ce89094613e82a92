import pytest

from voicemon import config as cfg
from voicemon.errors import ConfigError


def test_defaults():
    c = cfg.load(environ={})
    assert c.asr.model is None and c.audio.channels == ("agent", "customer")
    assert c.meter.readings_hz >= 2


def test_precedence_file_env_flags(tmp_path):
    f = tmp_path / "v.toml"
    f.write_text('[asr]\nbeam_size = 3\n[meter]\nreadings_hz = 5\n[audio]\nchannels = ["customer", "agent"]\n')
    c = cfg.load(f, environ={})
    assert (c.asr.beam_size, c.meter.readings_hz, c.audio.channels) == (3, 5.0, ("customer", "agent"))
    c = cfg.load(f, environ={"VOICEMON_ASR_BEAM_SIZE": "4", "VOICEMON_MODEL": "/m"})
    assert (c.asr.beam_size, c.asr.model) == (4, "/m")
    c = cfg.load(f, overrides={"asr": {"beam_size": 2, "model": None}}, environ={"VOICEMON_ASR_BEAM_SIZE": "4"})
    assert c.asr.beam_size == 2


@pytest.mark.parametrize("text,match", [
    ("[nope]\nx = 1\n", "unknown section"),
    ("[asr]\nbeam = 1\n", "unknown option asr.beam"),
    ("[asr]\nbeam_size = 'many'\n", "asr.beam_size"),
    ("[asr]\nbeam_size = 0\n", "beam_size"),
    ("[audio]\nchannels = ['agent', 'agent']\n", "channels"),
    ("not toml [", "not valid TOML"),
])
def test_bad_files_are_config_errors(tmp_path, text, match):
    f = tmp_path / "v.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        cfg.load(f, environ={})


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        cfg.load(tmp_path / "nope.toml", environ={})


def test_flags_channels_string():
    c = cfg.load(overrides={"audio": {"channels": "customer,agent"}}, environ={})
    assert c.audio.channels == ("customer", "agent")
    assert c.to_dict()["audio"]["channels"] == ["customer", "agent"]


def test_every_option_is_documented():
    import dataclasses
    from pathlib import Path

    from voicemon.config import Config

    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    missing = []
    for section in dataclasses.fields(Config):
        if f"## `[{section.name}]`" not in doc:
            missing.append(f"[{section.name}]")
        for option in dataclasses.fields(section.default_factory()):
            if f"`{option.name}`" not in doc:
                missing.append(f"{section.name}.{option.name}")
    assert not missing, f"docs/configuration.md does not describe: {', '.join(missing)}"
