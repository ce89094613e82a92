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
        if not section.metadata.get("section", True):  # Config.origins: not an option
            continue
        if f"## `[{section.name}]`" not in doc:
            missing.append(f"[{section.name}]")
        for option in dataclasses.fields(section.default_factory()):
            if f"`{option.name}`" not in doc:
                missing.append(f"{section.name}.{option.name}")
    assert not missing, f"docs/configuration.md does not describe: {', '.join(missing)}"


# --- one config path (issue 15 item 2) ------------------------------------------------------------

def _cli_config(argv):
    from voicemon.cli import build_parser
    from voicemon.cli.common import config_from_args

    args = build_parser().parse_args(argv)
    return args, config_from_args(args)


def test_replay_serve_keeps_the_files_server_port_and_out_dir(tmp_path, monkeypatch):
    from voicemon.cli.live import served_options

    for key in [k for k in __import__("os").environ if k.startswith("VOICEMON_")]:
        monkeypatch.delenv(key)
    f = tmp_path / "v.toml"
    f.write_text(f'[server]\nport = 9911\nout_dir = "{tmp_path / "calls"}"\n')
    args, config = _cli_config(["replay", "call.wav", "--serve", "--config", str(f)])
    served = served_options(args, config)
    assert (served.port, served.out_dir) == (9911, str(tmp_path / "calls"))
    args, config = _cli_config(["replay", "call.wav", "--serve", "--config", str(f), "--port", "0", "--report", "r"])
    served = served_options(args, config)
    assert (served.port, served.out_dir) == (0, "r")
    assert config.origins["server.port"] == "command line" and config.origins["server.out_dir"] == str(f)
    args, config = _cli_config(["listen", "--serve"])  # no file: the flags' defaults as before
    assert (served_options(args, config).port, served_options(args, config).out_dir) == (8765, "voicemon-reports")


def test_command_flags_are_validated_options(tmp_path, monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("VOICEMON_")]:
        monkeypatch.delenv(key)
    _, config = _cli_config(["analyze", "x.wav", "--workers", "3"])
    assert config.asr.workers == 3 and config.to_dict()["asr"]["workers"] == 3
    _, config = _cli_config(["replay", "x.wav", "--interim-s", "0.5"])
    assert config.live.interim_interval_s == 0.5 and config.to_dict()["live"]["interim_interval_s"] == 0.5
    _, config = _cli_config(["eval", "calls", "c.csv", "--params", "p.toml"])
    assert config.meter.params == "p.toml" and config.origins["meter.params"] == "command line"
    _, config = _cli_config(["serve", "--port", "1234", "--allow-origin", "http://a"])
    assert config.server.port == 1234 and config.server.allowed_origins == ("http://a",)
    with pytest.raises(ConfigError, match="asr.workers"):
        _cli_config(["analyze", "x.wav", "--workers", "-1"])
    with pytest.raises(ConfigError, match="server.port"):
        _cli_config(["serve", "--port", "70000"])
    with pytest.raises(ConfigError, match="live"):
        cfg.load(overrides={"live": {"max_backlog_s": 0}}, environ={})
    f = tmp_path / "v.toml"
    f.write_text("[live]\ninterim_interval_s = 3\n[asr]\nworkers = 2\n")
    c = cfg.load(f, environ={"VOICEMON_LIVE_BEHIND_S": "4"})
    assert (c.live.interim_interval_s, c.asr.workers, c.live.behind_s) == (3.0, 2, 4.0)
    assert c.origins == {"live.interim_interval_s": str(f), "asr.workers": str(f), "live.behind_s": "VOICEMON_LIVE_BEHIND_S"}
    assert "origins" not in c.to_dict()


def test_voicemon_model_is_read_once_and_its_origin_named(monkeypatch):
    from voicemon.asr.model_resolution import bundled_model_dir, resolve_model
    from voicemon.asr.transcriber import WhisperTranscriber
    from voicemon.errors import ModelUnavailableError

    monkeypatch.setenv("VOICEMON_MODEL", "/no/such/model")
    isolated = cfg.load(environ={})
    assert isolated.asr.model is None and "asr.model" not in isolated.origins
    if bundled_model_dir() is not None:  # nothing after load() reads the variable again
        assert resolve_model(isolated.asr.model).source == "bundled"
        assert WhisperTranscriber(isolated.asr).resolved.source == "bundled"
    config = cfg.load()
    assert config.asr.model == "/no/such/model" and config.origins["asr.model"] == "VOICEMON_MODEL"
    with pytest.raises(ModelUnavailableError, match=r"tried: VOICEMON_MODEL: /no/such/model"):
        WhisperTranscriber(config.asr, model_origin=config.origins["asr.model"])
    config = cfg.load(overrides={"asr": {"model": "/other"}})
    assert config.origins["asr.model"] == "command line"


def test_coerce_uses_the_fields_types_not_their_spelling():
    import dataclasses

    from voicemon.config import Config, _coerce, _field_types, sections

    for name in sections():  # every option takes its own default back unchanged
        options = getattr(Config(), name)
        for f in dataclasses.fields(options):
            value = getattr(options, f.name)
            assert _coerce(name, f.name, _field_types(type(options))[f.name], value) == value, f"{name}.{f.name}"
    assert _coerce("s", "n", str, 5) == "5" and _coerce("s", "n", int, "5") == 5
    assert _coerce("s", "n", str | None, 12) == "12" and _coerce("s", "n", tuple[str, ...], "a, b") == ("a", "b")
    assert _coerce("s", "n", float, 2) == 2.0 and _coerce("s", "n", bool, "yes") is True

    @dataclasses.dataclass
    class Point:  # "Point" contains "int": a substring match would have called int() on it
        x: int = 0

    with pytest.raises(TypeError, match="unsupported option type"):
        _coerce("s", "n", Point, "1")
    assert cfg.load(environ={"VOICEMON_SERVER_TOKEN": "1234"}).server.token == "1234"


@pytest.mark.parametrize("hub", ["http://x", "redis://h\x00:6379/0", "redis://" + "h" * 5000, "../../etc/passwd",
                                 "redis://host\n:6379"])
def test_hostile_hub_url_is_a_config_error(hub):
    with pytest.raises(ConfigError, match="server.hub"):
        cfg.load(environ={}, overrides={"server": {"hub": hub}})
