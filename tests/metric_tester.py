"""One harness that checks every registered metric the same way (seqsim issue 12), after
torchmetrics' ``MetricTester``.

A :class:`MetricCase` is one registered metric with its options: the built-in ones with their
option variants, and two metrics that the tests register themselves
(:func:`user_metrics_registered`), a plain function ``f(x, y) -> float`` and a
:class:`~seqsim.metrics.KernelMetric` subclass. Each case names its independent reference
(``tests/references.py``), its tolerance, the kernel that runs on each backend, its declared
symmetry with an input that shows an asymmetric metric asymmetric, its bound under
half-precision inputs, and the properties that apply. :class:`MetricTester` checks one case on
one backend (``tests/test_metric_harness.py`` runs every case on every backend):

``reference``
    ``Metric(...).matrix(q, c)`` = the plain function (``seqsim.functional``) = the reference,
    pair by pair; ``metric(x, y)`` = its matrix cell.
``inputs``
    a list of arrays = ``PackedSequences.from_lengths`` = a list of tensors = frames memory-mapped
    from a :class:`~seqsim.store.EmbeddingStore`.
``blocks``
    a tiny ``working_memory`` (one sequence per block) = the default.
``half``
    float16 and bfloat16 tensors and float16 numpy arrays: the reference applied to the frames
    as the kernel sees them, and within the case's bound of the float32 result.
``symmetry``
    ``metric.symmetric`` as the case declares; where True, ``matrix(a, b) = matrix(b, a).T``;
    where False, the case's witness pair scores differently each way round.
``kernel``
    the kernel :func:`~seqsim.kernels.choose_kernel` picks on each backend is the case's.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from helpers import random_sequences
from references import (
    avgsim_reference,
    dtw_from_cosines,
    fastdtw_similarity,
    ot_exact_from_cosines,
    seqsim_from_cosines,
    sinkhorn_from_cosines,
    unit,
)

from seqsim import EmbeddingStore, PackedSequences, functional, get_metric, register_metric
from seqsim.kernels import BlockKernels, choose_kernel
from seqsim.metrics import KernelMetric, Metric
from seqsim.metrics.base import _REGISTRY, metric_function

PROPERTIES = frozenset({"reference", "inputs", "blocks", "half", "symmetry", "kernel"})
HALF_DTYPES: dict[str, Any] = {
    "torch-float16": torch.float16,
    "torch-bfloat16": torch.bfloat16,
    "numpy-float16": np.float16,
}
UNIT_ROUNDOFF = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}
FLOAT32_SLACK = 1e-6
"""What float32 arithmetic (frames, GEMM) moves a result by in these small tests."""


class PairFrames(NamedTuple):
    """One (query, candidate) pair as a reference sees it: the raw frames and the unit frames
    that the kernel computes with (float64)."""

    x: np.ndarray
    y: np.ndarray
    unit_x: np.ndarray
    unit_y: np.ndarray

    @property
    def cosines(self) -> np.ndarray:
        return self.unit_x @ self.unit_y.T


Reference = Callable[[PairFrames], float]
HalfBound = Callable[[float, int, int], float]
"""``bound(u, n, m)``: how far a pair of lengths n, m may move when the kernel rounds the unit
frames to a type of unit roundoff ``u``."""


@dataclass(frozen=True)
class Witness:
    """A pair (x, y) that an asymmetric metric scores differently from (y, x), with the
    options to score it with (the case's, updated by ``options``)."""

    x: np.ndarray
    y: np.ndarray
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricCase:
    """One registered metric with options, and what the harness checks about it.

    ``kernels`` names the kernel that runs on the numba, torch and triton backends (None for a
    metric without block kernels, which scores float32 numpy frames itself); ``unit_frames``
    says whether they score unit frames (AvgSim's are means of raw frames, in float64).
    ``half_bound`` is None where the kernels never round the unit frames to half precision, or
    where no useful bound exists (then only the reference on the rounded frames is checked).
    """

    id: str
    name: str
    options: Mapping[str, Any]
    reference: Reference
    kernels: tuple[str, str, str] | None
    symmetric: bool
    unit_frames: bool = True
    atol: float = 1e-5
    half_bound: HalfBound | None = None
    witness: Witness | None = None
    properties: frozenset[str] = PROPERTIES

    def __str__(self) -> str:
        return self.id


# ------------------------------------------------------------------ metrics a user registers

USER_FUNCTION = "harness_worst_frame"
USER_KERNEL_METRIC = "harness_scaled_recall"


def worst_frame_cosine(x: np.ndarray, y: np.ndarray) -> float:
    """A user's plain pairwise metric, in Python loops: the cosine that the query frame worst
    matched in ``y`` has with its best match (asymmetric)."""
    worst = np.inf
    for a in x:
        best = max(float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b)) for b in y)
        worst = min(worst, best)
    return worst


def recall_tiles(queries: PackedSequences, candidates: PackedSequences) -> np.ndarray:
    """SeqSim's recall, by numpy on unit frames: a user's CPU-only block scorer."""
    assert isinstance(queries.frames, np.ndarray) and isinstance(candidates.frames, np.ndarray)
    cosines = queries.frames @ candidates.frames.T
    return np.array(
        [
            [cosines[q0:q1, c0:c1].max(axis=1).mean() for c0, c1 in pairwise(candidates.offsets)]
            for q0, q1 in pairwise(queries.offsets)
        ]
    )[None]


@dataclass(eq=False, repr=False)
class ScaledRecall(KernelMetric):
    """A user metric with one option and a numba kernel only (so it runs on every backend)."""

    scale: float = 1.0
    kernels = BlockKernels(numba=recall_tiles)

    def similarities(self, scores: np.ndarray) -> np.ndarray:
        return self.scale * scores[0]


@contextmanager
def user_metrics_registered() -> Iterator[None]:
    """Register the two user metrics for the duration of a test, then restore the registry."""
    saved = dict(_REGISTRY)
    try:
        register_metric(USER_FUNCTION)(worst_frame_cosine)
        register_metric(USER_KERNEL_METRIC)(ScaledRecall)
        yield
    finally:
        _REGISTRY.clear()
        _REGISTRY.update(saved)


# ------------------------------------------------------------------ the case table

E = np.eye(3, dtype=np.float32)


def basis(*indices: int) -> np.ndarray:
    """A sequence of unit basis vectors of R^3: ``basis(0, 2)`` is (e1, e3)."""
    return E[list(indices)]


# (e1, e2) against (e1): recall 1/2 one way, 1 the other; precision the reverse.
RECALL_WITNESS = Witness(basis(0, 1), basis(0))
# Found by searching basis sequences with tests/references.py: DTW cost 4 both ways round, but
# optimal paths tie between the predecessors (i-1, j) and (i, j-1), which swap roles when x and
# y swap, and the tie rule picks a path of 9 cells one way and of 8 the other: -4/9, -4/8 (any
# window of the cases). Every other order of preference among the three predecessors changes
# one of the two values, so the witness also pins the tie rule itself.
DTW_PATH_WITNESS = Witness(basis(0, 2, 0, 1, 0), basis(2, 1, 0, 2, 1, 0, 0, 2))
# Found likewise: fastdtw coarsens both sequences and searches only near the coarse path, whose
# window it builds row by row: cost 5 one way round (the exact DTW cost), 7 (radius 1) or 6
# (radius 2) the other.
FASTDTW_WITNESS = Witness(basis(2, 0, 2, 2, 1, 0, 2, 2, 0, 0), basis(0, 0, 0, 0, 0, 0, 2))
# Sinkhorn scales the rows, then the columns: stopped after one update, the plan of (x, y) has
# exact columns and inexact rows, that of (y, x) transposed exact rows and inexact columns, two
# different plans (similarities 0.686 and 0.750). Converged, they differ by about tol only.
SINKHORN_WITNESS = Witness(basis(0, 1, 1, 2), basis(1, 0, 0), {"max_iter": 1})

# Bounds under half precision, u the unit roundoff. The kernels normalise in float32 and round
# the unit frames: each component moves by at most u relatively, so each cosine by at most
# 2u + u^2 (Cauchy-Schwarz), and the DTW cost 1 - cos of each cell likewise.
COSINE_SHIFT = 2.01


def _seqsim_f1_bound(u: float, n: int, m: int) -> float:
    # P and R are means of maxima of cosines: each moves by <= 2.01u; F1 = 2PR/(P+R) has
    # |dF/dP| + |dF/dR| = 2(P^2 + R^2)/(P+R)^2 <= 2 for P, R >= 0: <= 4.02u (docs: 4u).
    return 2 * COSINE_SHIFT * u


def _cosine_mean_bound(u: float, n: int, m: int) -> float:
    return COSINE_SHIFT * u  # precision, recall: a mean of maxima of cosines


def _dtw_total_bound(u: float, n: int, m: int) -> float:
    # a minimum over paths of sums of at most n + m - 1 cells each moves by <= 2.01u per cell
    return COSINE_SHIFT * u * (n + m - 1)


def _dtw_sum_bound(u: float, n: int, m: int) -> float:
    return _dtw_total_bound(u, n, m) / (n + m)


SEQSIM_KERNELS = ("numba", "torch", "triton")
DTW_KERNELS = ("numba", "torch", "triton")
CPU_ONLY = ("numba", "numba", "numba")
SINKHORN_KERNELS = ("numba", "torch", "torch")
REFERENCE_ONLY = frozenset({"reference", "symmetry", "kernel"})


def _seqsim_case(output: str, index: int, bound: HalfBound, witness: Witness | None) -> MetricCase:
    return MetricCase(
        f"seqsim-{output}",
        "seqsim",
        {"output": output},
        lambda p: seqsim_from_cosines(p.cosines)[index],
        SEQSIM_KERNELS,
        symmetric=witness is None,
        half_bound=bound,
        witness=witness,
    )


def _dtw_case(normalization: str, window: int | None, properties: frozenset[str]) -> MetricCase:
    bounds = {"none": _dtw_total_bound, "sum": _dtw_sum_bound, "path": None}
    return MetricCase(
        f"dtw-{normalization}-window{window}",
        "dtw",
        {"normalization": normalization, "window": window},
        lambda p: dtw_from_cosines(p.cosines, normalization, window),
        DTW_KERNELS,
        symmetric=normalization != "path",
        # "path": rounding may change which path is optimal, and with it the divisor, so no
        # useful bound in u exists; the reference on the rounded frames is checked instead
        half_bound=bounds[normalization],
        witness=DTW_PATH_WITNESS if normalization == "path" else None,
        properties=properties,
    )


def _fastdtw_case(normalization: str, radius: int, properties: frozenset[str]) -> MetricCase:
    return MetricCase(
        f"dtw-fastdtw-{normalization}-radius{radius}",
        "dtw",
        {"method": "fastdtw", "normalization": normalization, "radius": radius},
        lambda p: fastdtw_similarity(p.unit_x, p.unit_y, normalization, radius),
        CPU_ONLY,
        symmetric=False,
        witness=FASTDTW_WITNESS,
        properties=properties,
    )


def _sinkhorn_case(reg: float, log_domain: bool, atol: float) -> MetricCase:
    return MetricCase(
        f"ot-sinkhorn-reg{reg}" + ("-log" if log_domain else ""),
        "ot",
        {"solver": "sinkhorn", "reg": reg, "log_domain": log_domain},
        # within tol = 1e-6 of the marginals the plan's cost is within ~3e-7 of the fixed point
        lambda p: sinkhorn_from_cosines(p.cosines, reg),
        SINKHORN_KERNELS,
        symmetric=False,
        atol=atol,
        # the entropic plan moves with the cost by up to about |dC| / reg, so a bound in u is
        # useless at small reg; the reference on the rounded frames is checked instead
        witness=SINKHORN_WITNESS,
    )


CASES: list[MetricCase] = [
    _seqsim_case("f1", 2, _seqsim_f1_bound, None),
    _seqsim_case("precision", 0, _cosine_mean_bound, RECALL_WITNESS),
    _seqsim_case("recall", 1, _cosine_mean_bound, RECALL_WITNESS),
    MetricCase(
        "avgsim",
        "avgsim",
        {},
        lambda p: avgsim_reference(p.x, p.y),
        ("numba", "torch", "torch"),
        symmetric=True,
        unit_frames=False,
    ),
    _dtw_case("sum", None, PROPERTIES),
    _dtw_case("none", 3, PROPERTIES),
    _dtw_case("path", 0, PROPERTIES),
    *[
        _dtw_case(normalization, window, REFERENCE_ONLY)
        for normalization, window in [
            ("none", None),
            ("none", 0),
            ("sum", 0),
            ("sum", 3),
            ("path", None),
            ("path", 3),
        ]
    ],
    _fastdtw_case("sum", 1, PROPERTIES),
    _fastdtw_case("path", 2, REFERENCE_ONLY),
    MetricCase(
        "ot-exact",
        "ot",
        {},
        lambda p: ot_exact_from_cosines(p.cosines),
        CPU_ONLY,
        symmetric=True,
        atol=1e-6,
    ),
    _sinkhorn_case(0.1, False, atol=1e-6),
    _sinkhorn_case(0.1, True, atol=2e-6),  # float32 in torch
    MetricCase(
        "user-function",
        USER_FUNCTION,
        {},
        lambda p: float(p.cosines.max(axis=1).min()),
        None,
        symmetric=False,
        witness=RECALL_WITNESS,
    ),
    MetricCase(
        "user-kernel-metric",
        USER_KERNEL_METRIC,
        {"scale": 2.0},
        lambda p: 2.0 * seqsim_from_cosines(p.cosines)[1],
        CPU_ONLY,
        symmetric=False,
        witness=RECALL_WITNESS,
    ),
]


# ------------------------------------------------------------------ the tester


def case_named(case_id: str) -> MetricCase:
    """The case of :data:`CASES` with this id."""
    return next(case for case in CASES if case.id == case_id)


def kernel_index(backend: str) -> int:
    return ("numba", "torch", "triton").index(backend)


def store_sequences(folder: Path, sequences: Sequence[np.ndarray]) -> PackedSequences:
    """``sequences`` written into a float32 :class:`EmbeddingStore`, loaded memory-mapped."""
    store = EmbeddingStore(folder)
    settings = {"model": "metric-harness", "layers": [0], "dtype": "float32", "hidden_states": 1}
    with store.writer(settings) as writer:
        for number, frames in enumerate(sequences):
            writer.add(f"s{number:03d}", {0: frames})
    keys, packed = store.load(0)
    assert keys == [f"s{number:03d}" for number in range(len(sequences))]
    assert isinstance(packed.frames, np.memmap)
    return packed


def packed(sequences: Sequence[np.ndarray]) -> PackedSequences:
    return PackedSequences.from_lengths(np.concatenate(sequences), [len(s) for s in sequences])


def to_half(frames: np.ndarray, dtype: Any) -> np.ndarray | torch.Tensor:
    """``frames`` as a numpy float16 array, or a torch tensor of ``dtype``."""
    if dtype is np.float16:
        return frames.astype(np.float16)
    return torch.from_numpy(frames).to(dtype)


def widened(frames: np.ndarray | torch.Tensor) -> np.ndarray:
    """Half-precision frames as float32 numpy (exactly: every half value is a float32)."""
    if isinstance(frames, torch.Tensor):
        return frames.float().numpy()
    return frames.astype(np.float32)


def close(actual: np.ndarray, expected: np.ndarray, atol: float, what: str) -> None:
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol, err_msg=what)


class MetricTester:
    """The harness's checks of one :class:`MetricCase` on one backend."""

    def __init__(
        self,
        case: MetricCase,
        backend_options: Mapping[str, Any],
        sequences: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
    ) -> None:
        """``sequences``: (queries, candidates) to check on, instead of small random ones."""
        self.case = case
        self.backend_options = dict(backend_options)
        backend = backend_options["backend"]
        self.kernel = None if case.kernels is None else case.kernels[kernel_index(backend)]
        if sequences is None:
            rng = np.random.default_rng(zlib.crc32(f"{case.id}|{backend}".encode()))
            # Triton's CPU interpreter is slow: few, short sequences where a Triton kernel runs
            (count_q, count_c), max_len = ((2, 2), 6) if self.kernel == "triton" else ((4, 3), 10)
            sequences = (
                random_sequences(rng, count_q, 8, max_len=max_len),
                random_sequences(rng, count_c, 8, max_len=max_len),
            )
        self.queries, self.candidates = sequences

    # ---------------------------------------------------------------- building blocks

    def metric(self, **options: Any) -> Metric:
        """The case's metric from the registry, on this backend."""
        return get_metric(
            self.case.name, **{**self.case.options, **options}, **self.backend_options
        )

    def function(self) -> Callable[..., np.ndarray]:
        """The plain-function form: ``seqsim.functional``'s for a built-in metric, the one
        :func:`metric_function` makes of a user's class otherwise."""
        builtin = getattr(functional, f"{self.case.name}_matrix", None)
        if builtin is not None:
            return builtin
        metric_class = type(self.metric())
        return metric_function(metric_class, metric_class.matrix, f"{self.case.name}_matrix")

    def expected(
        self,
        queries: Sequence[np.ndarray],
        candidates: Sequence[np.ndarray],
        unit_frames: Callable[[np.ndarray], np.ndarray] = unit,
    ) -> np.ndarray:
        """The reference, pair by pair; ``unit_frames`` gives the unit frames the kernel sees."""
        out = np.empty((len(queries), len(candidates)))
        for i, x in enumerate(queries):
            for j, y in enumerate(candidates):
                frames = PairFrames(
                    np.asarray(x, np.float64),
                    np.asarray(y, np.float64),
                    unit_frames(x),
                    unit_frames(y),
                )
                out[i, j] = self.case.reference(frames)
        return out

    # ---------------------------------------------------------------- the properties

    def check_reference(self) -> None:
        """Class = function = reference; one pair = its matrix cell."""
        metric = self.metric()
        matrix = metric.matrix(self.queries, self.candidates)
        assert matrix.shape == (len(self.queries), len(self.candidates))
        assert matrix.dtype == np.float64
        expected = self.expected(self.queries, self.candidates)
        close(matrix, expected, self.case.atol, f"{self.case}: class against the reference")
        by_function = self.function()(
            self.queries, self.candidates, **self.case.options, **self.backend_options
        )
        close(by_function, matrix, 1e-12, f"{self.case}: function against the class")
        for i, j in [(0, 0), (len(self.queries) - 1, len(self.candidates) - 1)]:
            single = metric(self.queries[i], self.candidates[j])
            assert isinstance(single, float)
            close(single, matrix[i, j], FLOAT32_SLACK, f"{self.case}: one pair ({i}, {j})")

    def check_inputs(self, folder: Path) -> None:
        """A list of arrays = packed = a list of tensors = a memory-mapped store."""
        metric = self.metric()
        listed = metric.matrix(self.queries, self.candidates)
        forms = {
            "packed": (packed(self.queries), packed(self.candidates)),
            "tensors": (
                [torch.from_numpy(q) for q in self.queries],
                [torch.from_numpy(c) for c in self.candidates],
            ),
            "store": (
                store_sequences(folder / "queries", self.queries),
                store_sequences(folder / "candidates", self.candidates),
            ),
        }
        for form, (queries, candidates) in forms.items():
            close(metric.matrix(queries, candidates), listed, 1e-7, f"{self.case}: {form}")

    def check_blocks(self) -> None:
        """One sequence per block (a tiny working memory) = the default blocks."""
        default = self.metric().matrix(self.queries, self.candidates)
        tiny = self.metric(working_memory=1e-5).matrix(self.queries, self.candidates)
        close(tiny, default, FLOAT32_SLACK, f"{self.case}: tiny blocks")

    def check_half(self, dtype: Any) -> None:
        """Half-precision frames: the reference on the frames as the kernel sees them, and the
        case's bound from the float32 result where the kernel rounds the unit frames."""
        queries = [to_half(q, dtype) for q in self.queries]
        candidates = [to_half(c, dtype) for c in self.candidates]
        metric = self.metric()
        result = metric.matrix(queries, candidates)
        widened_q, widened_c = [widened(q) for q in queries], [widened(c) for c in candidates]
        as_float32 = metric.matrix(widened_q, widened_c)  # the same values in float32
        # torch and triton kernels normalise half-precision tensors in float32 and round the
        # unit frames back to their type; numba and numpy float16 widen exactly (docs/metrics.md)
        rounds = (
            dtype in UNIT_ROUNDOFF and self.kernel in ("torch", "triton") and self.case.unit_frames
        )
        if rounds:

            def unit_frames(frames: np.ndarray) -> np.ndarray:
                tensor = torch.nn.functional.normalize(torch.from_numpy(frames), dim=1)
                return tensor.to(dtype).double().numpy()

            expected = self.expected(widened_q, widened_c, unit_frames)
        else:
            expected = self.expected(widened_q, widened_c)
        close(result, expected, self.case.atol, f"{self.case}: {dtype} against the reference")
        if not rounds:
            close(result, as_float32, FLOAT32_SLACK, f"{self.case}: {dtype} widened exactly")
        elif self.case.half_bound is not None:
            u = UNIT_ROUNDOFF[dtype]
            bound = np.array(
                [[self.case.half_bound(u, len(q), len(c)) for c in widened_c] for q in widened_q]
            )
            assert np.all(np.abs(result - as_float32) <= bound + FLOAT32_SLACK), (
                f"{self.case}: {dtype} moves the result by {np.abs(result - as_float32).max()}"
            )

    def check_symmetry(self) -> None:
        """Declared symmetry = observed, and a witness of asymmetry where it is not declared."""
        metric = self.metric()
        assert metric.symmetric is self.case.symmetric
        if self.case.symmetric:
            forward = metric.matrix(self.queries, self.candidates)
            backward = metric.matrix(self.candidates, self.queries).T
            close(forward, backward, FLOAT32_SLACK, f"{self.case}: symmetry")
            return
        witness = self.case.witness
        assert witness is not None, f"{self.case} is declared asymmetric: give it a witness"
        with warnings.catch_warnings():  # Sinkhorn's witness stops unconverged, on purpose
            warnings.simplefilter("ignore")
            asymmetric = self.metric(**witness.options)
            forward = asymmetric(witness.x, witness.y)
            backward = asymmetric(witness.y, witness.x)
        assert abs(forward - backward) > 0.01, f"{self.case}: {forward} both ways round"
        if not witness.options:  # the witness scored with the case's own options: both exact
            expected = self.expected([witness.x, witness.y], [witness.y, witness.x])
            close(
                np.array([forward, backward]),
                np.diag(expected),
                self.case.atol,
                f"{self.case}: witness against the reference",
            )

    def check_kernel(self) -> None:
        """The kernel that runs on this backend is the case's (and on which device)."""
        metric = self.metric()
        if self.case.kernels is None:
            assert not isinstance(metric, KernelMetric)
            return
        assert isinstance(metric, KernelMetric)
        choice = choose_kernel(metric.kernels, metric.backend)
        assert choice.kernel == self.kernel, f"{self.case} on {metric.backend}"
        expected_device = torch.device("cpu") if self.kernel == "numba" else metric.backend.device
        assert choice.device == expected_device
