"""Bad input gets a ValueError that names the offending item and the problem."""

import numpy as np
import pytest
import torch

from seqsim import AvgSim, DTWSim, OTSim, PackedSequences, SeqSim

METRICS = [SeqSim, AvgSim, DTWSim, OTSim]
GOOD = np.ones((3, 4), dtype=np.float32)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize(
    ("queries", "candidates", "message"),
    [
        ([GOOD, np.zeros((0, 4), np.float32)], [GOOD], r"queries\[1\] is empty"),
        ([GOOD], [GOOD, np.ones(4, np.float32)], r"candidates\[1\] has shape \(4,\)"),
        ([GOOD], [GOOD, np.ones((2, 5), np.float32)], r"candidates\[1\] has dimension 5 .* 4"),
        ([GOOD], [], r"candidates is empty"),
        ([], [GOOD], r"queries is empty"),
        ([GOOD, np.array([[1, 2, 3, 4]], dtype=np.int64)], [GOOD], r"queries\[1\] has dtype int64"),
        ([GOOD, [[1.0, 2.0]]], [GOOD], r"queries\[1\] is a list"),
        (GOOD, [GOOD], r"queries is a single \(3, 4\) array"),
    ],
)
def test_shape_and_type_errors_name_the_item(metric, queries, candidates, message):
    with pytest.raises(ValueError, match=message):
        metric().matrix(queries, candidates)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_non_finite_frames_are_named(metric, bad_value):
    bad = GOOD.copy()
    bad[2, 1] = bad_value
    with pytest.raises(ValueError, match=r"candidates\[1\] has a NaN or infinite value at frame 2"):
        metric().matrix([GOOD], [GOOD, bad])
    tensor = torch.from_numpy(bad)
    with pytest.raises(ValueError, match=r"queries\[0\] has a NaN or infinite value at frame 2"):
        metric()(tensor, GOOD)


def test_packed_input_whose_lengths_do_not_add_up():
    packed = PackedSequences.from_lengths(np.ones((5, 4), np.float32), [2, 2])
    with pytest.raises(ValueError, match="lengths add up to 4 frames but the packed matrix has 5"):
        SeqSim().matrix(packed, [GOOD])
    packed = PackedSequences.from_lengths(np.ones((2, 4), np.float32), [2, 0])
    with pytest.raises(ValueError, match=r"queries\[1\] is empty"):
        SeqSim().matrix(packed, [GOOD])


def test_unknown_backend_and_options():
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        SeqSim(backend="cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="'cuda' was asked for, but no CUDA device"):
            SeqSim(backend="torch", device="cuda")
    with pytest.raises(ValueError, match="numba backend runs on the CPU only|no CUDA device"):
        SeqSim(backend="numba", device="cuda")
    with pytest.raises(ValueError, match="working_memory must be positive"):
        SeqSim(working_memory=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'layer'"):
        SeqSim(layer=3)
