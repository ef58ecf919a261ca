"""Bad input gets a ValueError that names the offending item and the problem."""

import numpy as np
import pytest
import torch

from seqsim import AvgSim, DTWSim, OTSim, PackedSequences, SeqSim
from seqsim.sequences import as_packed

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
    with pytest.raises(ValueError, match="working_memory must be a positive finite number"):
        SeqSim(working_memory=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'layer'"):
        SeqSim(layer=3)


def _grad_pair() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    rng = np.random.default_rng(3)
    queries = [torch.tensor(rng.standard_normal((n, 6)), dtype=torch.float32) for n in (4, 7)]
    candidates = [torch.tensor(rng.standard_normal((n, 6)), dtype=torch.float32) for n in (5, 2)]
    return queries, candidates


@pytest.mark.parametrize("metric", METRICS)
def test_tensors_that_require_grad_score_as_their_values(metric, backend_options):
    queries, candidates = _grad_pair()
    with_grad = [t.clone().requires_grad_() for t in queries]
    expected = metric(**backend_options).matrix(queries, candidates)
    scores = metric(**backend_options).matrix(with_grad, candidates)
    np.testing.assert_array_equal(scores, expected)
    packed = PackedSequences.from_lengths(torch.cat(candidates).requires_grad_(), [5, 2])
    np.testing.assert_array_equal(metric(**backend_options).matrix(queries, packed), expected)
    assert all(t.requires_grad for t in with_grad)  # the caller's tensors are left as they were


@pytest.mark.parametrize(
    ("metric", "identical"), [(SeqSim, 1.0), (AvgSim, 1.0), (DTWSim, 0.0), (OTSim, 1.0)]
)
def test_a_grad_sequence_against_itself(metric, identical, backend_options):
    x = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0], [3.0, 0.0, 1.0]], requires_grad=True)
    assert metric(**backend_options)(x, x) == pytest.approx(identical, abs=1e-5)


@pytest.mark.parametrize(
    "candidates",
    [[np.ones((2, 5), np.float32)], PackedSequences.from_lengths(np.ones((2, 5)), [2])],
    ids=["first-item", "packed"],
)
def test_a_candidate_dimension_mismatch_names_the_queries(candidates):
    """The first candidate (or a packed side) has no earlier sequences to differ from: the
    required dimension is the queries'."""
    with pytest.raises(ValueError) as raised:
        SeqSim().matrix([GOOD], candidates)
    where = "candidates[0]" if isinstance(candidates, list) else "candidates.frames"
    assert str(raised.value) == f"{where} has dimension 5 but the queries' dimension is 4"


def test_a_dimension_mismatch_within_one_side_names_the_earlier_sequences():
    with pytest.raises(ValueError) as raised:
        SeqSim().matrix([GOOD, np.ones((2, 5), np.float32)], [GOOD])
    expected = "queries[1] has dimension 5 but the earlier sequences' dimension is 4"
    assert str(raised.value) == expected


def test_a_required_dimension_without_its_source_is_called_required():
    with pytest.raises(ValueError) as raised:
        as_packed([np.ones((2, 5))], "queries", dim=4)
    assert str(raised.value) == "queries[0] has dimension 5 but the required dimension is 4"
