"""Every bad option gets a one-line ValueError that names it, raised before any work is done;
loading a model says so; progress bars show wherever stderr goes."""

from __future__ import annotations

import logging
import math
import os
import re
import select
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from helpers import tone

import seqsim.encoders.base
import seqsim.encoders.whisper
from seqsim import AvgSim, DTWSim, OTSim, SeqSim, WhisperEmbedder
from seqsim.audio import SAMPLE_RATE
from seqsim.backends import resolve_backend, resolve_device
from seqsim.functional import avgsim_matrix, dtw_matrix, ot_matrix, seqsim_matrix, seqsim_scores
from seqsim.progress import progress_bar

METRICS = [SeqSim, AvgSim, DTWSim, OTSim]
FUNCTIONS = [seqsim_matrix, seqsim_scores, avgsim_matrix, dtw_matrix, ot_matrix]
GOOD = np.ones((3, 4), dtype=np.float32)


def assert_one_line_error(info: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch):
    """Pretend that torch sees one CUDA device (only device names are resolved, no kernels)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.fixture
def no_loading(monkeypatch):
    """Fail any test that gets as far as loading a model."""

    def refuse(model):
        raise AssertionError(f"{model} was loaded before the options were checked")

    monkeypatch.setattr(seqsim.encoders.whisper, "load_whisper", refuse)


# devices


@pytest.mark.parametrize("device", ["foo", "gpu", "cuda:x", "", 1.5, [0]])
def test_an_unknown_device_is_named(device):
    with pytest.raises(ValueError) as info:
        resolve_device(device)
    assert_one_line_error(
        info, f"unknown device {device!r}", "use 'auto', 'cpu', 'cuda' or 'cuda:N'"
    )


@pytest.mark.parametrize("device", ["meta", "mps", "xpu"])
def test_a_device_other_than_cpu_or_cuda_is_refused(device):
    with pytest.raises(ValueError) as info:
        resolve_device(device)
    assert_one_line_error(info, f"unsupported device {device!r}", "'cpu', 'cuda' or 'cuda:N'")


@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_cuda_without_cuda(device, no_cuda):
    with pytest.raises(ValueError) as info:
        resolve_device(device)
    assert_one_line_error(info, f"device {device!r} was asked for", "no CUDA device is available")


@pytest.mark.parametrize("device", ["cuda:1", "cuda:7"])
def test_a_gpu_past_the_last_one(device, one_gpu):
    with pytest.raises(ValueError) as info:
        resolve_device(device)
    assert_one_line_error(info, f"device {device!r} does not exist", "1 CUDA device(s)")


def test_auto_and_explicit_devices(monkeypatch, one_gpu):
    assert resolve_device(None) == torch.device("cuda")
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_backend("auto", "auto").name == "numba"
    assert resolve_backend("numba", "auto").device == torch.device("cpu")


@pytest.mark.parametrize(
    ("device", "fragment"),
    [("foo", "unknown device 'foo'"), ("cuda", "no CUDA device is available")],
)
def test_metrics_and_the_embedder_resolve_devices_alike(device, fragment, no_cuda, no_loading):
    for make in (
        lambda: SeqSim(device=device),
        lambda: DTWSim(backend="torch", device=device),
        lambda: WhisperEmbedder("any-model", device=device),
    ):
        with pytest.raises(ValueError) as info:
            make()
        assert_one_line_error(info, fragment)


# embedder options, all checked before the model loads


@pytest.mark.parametrize("dtype", ["float17", "half", "float64", torch.float64, torch.int8, 16])
def test_an_unknown_dtype_names_the_choices(dtype, no_loading):
    with pytest.raises(ValueError) as info:
        WhisperEmbedder("any-model", dtype=dtype)
    assert_one_line_error(info, f"got {dtype!r}", "'auto', 'float16', 'bfloat16', 'float32'")


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, 4.0, True, "8", [4]])
def test_batch_size_must_be_a_positive_integer(batch_size, no_loading):
    with pytest.raises(ValueError) as info:
        WhisperEmbedder("any-model", batch_size=batch_size)
    assert_one_line_error(info, f"batch_size must be an integer >= 1, got {batch_size!r}")


@pytest.mark.parametrize(
    ("layers", "fragment"),
    [
        ("al", "layers must be a hidden-state index"),
        ([], "layers must be a hidden-state index"),
        (None, "layers must be a hidden-state index"),
        ([1, 2.0], "layer 2.0 is not a hidden-state index"),
        (True, "layer True is not a hidden-state index"),
        (["-1"], "layer '-1' is not a hidden-state index"),
    ],
)
def test_layers_of_the_wrong_form(layers, fragment, no_loading):
    with pytest.raises(ValueError) as info:
        WhisperEmbedder("any-model", layers=layers)
    assert_one_line_error(info, fragment)


@pytest.mark.parametrize("option", ["strict", "progress"])
@pytest.mark.parametrize("value", ["yes", 1, None])
def test_flags_must_be_booleans(option, value, no_loading):
    with pytest.raises(ValueError) as info:
        WhisperEmbedder("any-model", **{option: value})
    assert_one_line_error(info, f"{option} must be True or False, got {value!r}")


def test_valid_options_reach_the_model(tiny_whisper_dir):
    embedder = WhisperEmbedder(
        str(tiny_whisper_dir),
        layers=np.array([1, -1]),
        device=torch.device("cpu"),
        dtype=torch.float32,
        batch_size=np.int64(2),
        progress=False,
    )
    assert embedder.layers == [1, 2] and embedder.batch_size == 2
    assert embedder.device == torch.device("cpu") and embedder.dtype == torch.float32


# working_memory, the same check for every metric class and function

BAD_WORKING_MEMORY = [math.nan, math.inf, -math.inf, -1, 0, 0.0, True, "abc", "256", None, [1]]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("value", [v for v in BAD_WORKING_MEMORY if v is not None])
def test_working_memory_of_every_metric(metric, value):
    with pytest.raises(ValueError) as info:
        metric(working_memory=value)
    assert_one_line_error(
        info, f"working_memory must be a positive finite number of MiB, got {value!r}"
    )


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("value", [v for v in BAD_WORKING_MEMORY if v is not None])
def test_working_memory_of_every_function(function, value):
    with pytest.raises(ValueError) as info:
        function([GOOD], [GOOD], working_memory=value)
    assert_one_line_error(
        info, f"working_memory must be a positive finite number of MiB, got {value!r}"
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_options_are_checked_before_the_inputs(function):
    with pytest.raises(ValueError, match="working_memory must be"):
        function([], [GOOD], working_memory="abc")
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        function([], [GOOD], backend="gpu")
    with pytest.raises(ValueError, match="progress must be True or False"):
        function([], [GOOD], progress="yes")


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("value", [0.001, 1, 512.5, np.float32(64)])
def test_valid_working_memory(metric, value):
    assert metric(working_memory=value).matrix([GOOD], [GOOD]).shape == (1, 1)


# metric options


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: SeqSim(output="F1"), "output must be one of 'precision', 'recall', 'f1'"),
        (lambda: SeqSim(output=None), "output must be one of"),
        (lambda: SeqSim(progress="yes"), "progress must be True or False, got 'yes'"),
        (lambda: AvgSim(progress=1), "progress must be True or False, got 1"),
        (lambda: DTWSim("mean"), "normalization must be one of 'none', 'sum', 'path'"),
        (lambda: DTWSim(normalization=["sum"]), "normalization must be one of"),
        (lambda: DTWSim(window=-1), "window must be an integer >= 0, got -1"),
        (lambda: DTWSim(window=1.5), "window must be an integer >= 0, got 1.5"),
        (lambda: DTWSim(window="3"), "window must be an integer >= 0, got '3'"),
        (lambda: DTWSim(window=True), "window must be an integer >= 0, got True"),
        (lambda: DTWSim(method="approximate"), "method must be one of 'exact', 'fastdtw'"),
        (lambda: DTWSim(method="fastdtw", radius=0), "radius must be an integer >= 1, got 0"),
        (lambda: DTWSim(radius=2.5), "radius must be an integer >= 1, got 2.5"),
        (lambda: OTSim("greenkhorn"), "solver must be one of 'exact', 'sinkhorn'"),
        (lambda: OTSim("sinkhorn", reg=math.nan), "reg must be a positive finite number, got nan"),
        (lambda: OTSim("sinkhorn", reg=-0.1), "reg must be a positive finite number, got -0.1"),
        (lambda: OTSim("sinkhorn", reg=math.inf), "reg must be a positive finite number"),
        (lambda: OTSim("sinkhorn", reg="0.05"), "reg must be a positive finite number"),
        (lambda: OTSim("sinkhorn", reg=0.001), "reg must be at least 0.005"),
        (lambda: OTSim("sinkhorn", max_iter=0), "max_iter must be an integer >= 1, got 0"),
        (lambda: OTSim("sinkhorn", max_iter=1e3), "max_iter must be an integer >= 1"),
        (lambda: OTSim("sinkhorn", tol=0), "tol must be a positive finite number, got 0"),
        (lambda: OTSim("sinkhorn", tol=math.nan), "tol must be a positive finite number"),
        (lambda: OTSim(log_domain="yes"), "log_domain must be True or False, got 'yes'"),
    ],
)
def test_a_nonsense_metric_option_is_named(make, fragment):
    with pytest.raises(ValueError) as info:
        make()
    assert_one_line_error(info, fragment)


def test_function_options_share_the_class_checks():
    with pytest.raises(ValueError, match="window must be an integer >= 0"):
        dtw_matrix([GOOD], [GOOD], window=-2)
    with pytest.raises(ValueError, match="reg must be a positive finite number"):
        ot_matrix([GOOD], [GOOD], solver="sinkhorn", reg=math.nan)
    with pytest.raises(ValueError, match="output must be one of"):
        seqsim_matrix([GOOD], [GOOD], output="f2")


def test_options_that_apply_only_to_another_solver_are_not_refused():
    x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert OTSim(reg=0.001)(x, x) == pytest.approx(1.0)  # reg is for Sinkhorn only
    assert OTSim("sinkhorn", reg=0.001, log_domain=True).reg == 0.001
    assert DTWSim(window=np.int64(2), radius=3)(x, x) == pytest.approx(0.0)


# model loading says so, and progress moves with the work


def test_loading_is_logged(tiny_whisper_dir, caplog):
    with caplog.at_level(logging.INFO, logger="seqsim.encoders.whisper"):
        WhisperEmbedder(str(tiny_whisper_dir), progress=False)
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0] == f"loading model {tiny_whisper_dir}"
    assert re.fullmatch(
        rf"loaded {re.escape(str(tiny_whisper_dir))} \(2 layers\) in [\d.]+ s on cpu", messages[1]
    )


def test_loading_is_announced_on_stderr_with_progress(tiny_whisper_dir, capsys):
    WhisperEmbedder(str(tiny_whisper_dir), progress=True)
    assert f"loading {tiny_whisper_dir} ..." in capsys.readouterr().err
    WhisperEmbedder(str(tiny_whisper_dir), progress=False)
    assert capsys.readouterr().err == ""  # transformers' own loading bar included


def test_the_cpu_embeds_one_utterance_per_pass_and_the_bar_moves_each_time(
    tiny_whisper_dir, monkeypatch
):
    embedder = WhisperEmbedder(str(tiny_whisper_dir), device="cpu", progress=True)
    assert embedder.batch_size == 1
    bars, counts_at_each_pass = [], []
    encode = seqsim.encoders.whisper.encoder_hidden_states

    def recording_bar(**options):
        bars.append(progress_bar(**options))
        return bars[-1]

    def recording_encode(*args):
        counts_at_each_pass.append(bars[0].n)
        return encode(*args)

    monkeypatch.setattr(seqsim.encoders.base, "progress_bar", recording_bar)
    monkeypatch.setattr(seqsim.encoders.whisper, "encoder_hidden_states", recording_encode)
    embedder.embed([(tone(seconds), SAMPLE_RATE) for seconds in (0.5, 1.0, 1.5)])
    assert counts_at_each_pass == [0, 1, 2]
    assert bars[0].n == 3 and bars[0].total == 3


def test_a_log_file_gets_the_bar_at_a_modest_interval(monkeypatch, capsys):
    bar = progress_bar(total=3, desc="steps")
    assert bar.mininterval >= 1.0
    for _ in range(3):
        bar.update()
    bar.close()
    assert "steps: 100%" in capsys.readouterr().err and "3/3" in bar.__str__()
    disabled = progress_bar(total=3, desc="quiet", disable=True)
    disabled.update(3)
    disabled.close()
    assert capsys.readouterr().err == ""


PTY_CHILD = """
import fcntl, struct, termios
import numpy as np
from seqsim import SeqSim
from seqsim.progress import progress_bar

def resize(rows, columns):
    fcntl.ioctl(2, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

for rows, columns in [(0, 0), (24, 0), (0, 80), (24, 80)]:
    resize(rows, columns)
    for _ in progress_bar(range(3), desc=f"window {rows}x{columns}"):
        pass
resize(0, 0)
frames = [np.ones((2, 4), np.float32)] * 2
SeqSim(progress=True, working_memory=1e-4).matrix(frames, frames[:1])
"""


def run_under_pty(code: str, timeout: float = 120.0) -> str:
    """Run ``code`` in a child Python whose stdio is a pseudo-terminal reporting a 0x0 window
    (as some CI runners do), and return what it wrote there."""
    import fcntl
    import pty
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=terminal, stdout=terminal, stderr=terminal
    )
    os.close(terminal)
    output = b""
    try:
        while select.select([controller], [], [], timeout)[0]:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(controller)
        child.wait(timeout)
    assert child.returncode == 0, output.decode(errors="replace")
    return output.decode(errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_progress_shows_on_a_terminal_of_zero_size():
    output = run_under_pty(textwrap.dedent(PTY_CHILD))
    for window in ("0x0", "24x0", "0x80", "24x80"):
        assert re.search(rf"window {window}: 100%.*3/3", output), window
    assert re.search(r"block pairs: 100%.*2/2", output)
