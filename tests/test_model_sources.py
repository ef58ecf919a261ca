"""Finding a model offline: a hub id that is not cached fails at once, with the reason."""

import errno
import socket

import pytest
from transformers import WhisperConfig, WhisperModel

from seqsim.hub import hub_unreachable
from seqsim.whisper.loading import load_whisper, whisper_info


@pytest.fixture
def no_network(monkeypatch):
    def refuse(address, timeout=None):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    for variable in (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def downloads(monkeypatch):
    """Every from_pretrained call's keyword arguments, to see whether one went to the Hub."""
    calls = []
    for kind in (WhisperModel, WhisperConfig):
        original = kind.from_pretrained.__func__

        def spy(cls, model, *args, _original=original, **kwargs):
            calls.append(kwargs)
            return _original(cls, model, *args, **kwargs)

        monkeypatch.setattr(kind, "from_pretrained", classmethod(spy))
    return calls


def test_without_a_network_an_unknown_hub_id_fails_without_a_download(no_network, downloads):
    with pytest.raises(ValueError, match=r"'someone/nope'.*cannot be reached .*unreachable"):
        load_whisper("someone/nope")
    with pytest.raises(ValueError, match="cannot be reached"):
        whisper_info("someone/nope")
    assert downloads and all(call.get("local_files_only") for call in downloads)


def test_hf_hub_offline_is_named(no_network, downloads, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE is set"):
        load_whisper("someone/nope")
    assert all(call.get("local_files_only") for call in downloads)


def test_a_local_folder_loads_without_asking_the_network(no_network, tiny_whisper_dir):
    loaded = load_whisper(str(tiny_whisper_dir))
    assert len(loaded.encoder.layers) == 2
    assert whisper_info(str(tiny_whisper_dir)).encoder_layers == 2


def test_a_damaged_local_folder_is_not_looked_up_on_the_hub(no_network, tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot load Whisper model") as raised:
        load_whisper(str(tmp_path))
    assert "cannot be reached" not in str(raised.value)


def test_behind_a_proxy_the_proxy_decides(no_network, monkeypatch):
    assert "cannot be reached" in hub_unreachable()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert hub_unreachable() is None
