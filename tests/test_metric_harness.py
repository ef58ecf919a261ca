"""Every registered metric, built-in and user-registered, through one harness (seqsim issue 12):
the case table and the checks are in ``metric_tester.py``; each runs on every backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from metric_tester import (
    CASES,
    HALF_DTYPES,
    PROPERTIES,
    USER_FUNCTION,
    USER_KERNEL_METRIC,
    MetricTester,
    user_metrics_registered,
)

from seqsim import available_metrics
from seqsim.metrics import KernelMetric
from seqsim.metrics.base import _REGISTRY, PairwiseMetric


@pytest.fixture(autouse=True)
def user_metrics() -> Iterator[None]:
    with user_metrics_registered():
        yield


def cases_with(prop: str) -> list:
    return [pytest.param(case, id=case.id) for case in CASES if prop in case.properties]


@pytest.mark.parametrize("case", cases_with("reference"))
def test_class_function_and_reference_agree(case, backend_options):
    MetricTester(case, backend_options).check_reference()


@pytest.mark.parametrize("case", cases_with("inputs"))
def test_list_packed_tensor_and_store_inputs_agree(case, backend_options, tmp_path):
    MetricTester(case, backend_options).check_inputs(tmp_path)


@pytest.mark.parametrize("case", cases_with("blocks"))
def test_tiny_working_memory_changes_nothing(case, backend_options):
    MetricTester(case, backend_options).check_blocks()


@pytest.mark.parametrize("dtype", HALF_DTYPES.values(), ids=HALF_DTYPES.keys())
@pytest.mark.parametrize("case", cases_with("half"))
def test_half_precision_inputs(case, dtype, backend_options):
    MetricTester(case, backend_options).check_half(dtype)


@pytest.mark.parametrize("case", cases_with("symmetry"))
def test_declared_symmetry_is_observed(case, backend_options):
    MetricTester(case, backend_options).check_symmetry()


@pytest.mark.parametrize("case", cases_with("kernel"))
def test_kernel_that_runs_on_each_backend(case, backend_options):
    MetricTester(case, backend_options).check_kernel()


def test_the_cases_cover_every_registered_metric_and_kernel_variant():
    names = {case.name for case in CASES}
    assert set(available_metrics()) <= names  # built-in and the two user metrics
    assert issubclass(_REGISTRY[USER_FUNCTION], PairwiseMetric)
    assert issubclass(_REGISTRY[USER_KERNEL_METRIC], KernelMetric)
    options = [case.options for case in CASES]
    for variant in (
        {"output": "precision"},
        {"output": "recall"},
        {"method": "fastdtw"},
        {"solver": "sinkhorn", "log_domain": False},
        {"solver": "sinkhorn", "log_domain": True},
    ):
        assert any(variant.items() <= option.items() for option in options), variant
    dtw = {(o["normalization"], o["window"]) for o in options if "window" in o}
    assert dtw == {(n, w) for n in ("none", "sum", "path") for w in (None, 0, 3)}
    for case in CASES:
        assert case.properties <= PROPERTIES
        assert {"reference", "symmetry", "kernel"} <= case.properties, case.id
    assert len({case.id for case in CASES}) == len(CASES)
