import ast
import math
from pathlib import Path

import numpy as np
import pytest

import seqsim.ranking
from seqsim.ranking import (
    MEASURES,
    bootstrap_interval,
    check_scoring_options,
    normalize_scores,
    ranks_from_top_k,
    ranks_of_targets,
    retrieval_measures,
    top_k,
)

INF = math.inf


def reference_order(row) -> list[int]:
    """Columns best first, equal scores in column order: the tie rule, spelled out."""
    return sorted(range(len(row)), key=lambda j: (-row[j], j))


def test_ranks_on_the_diagonal_with_deterministic_ties():
    scores = np.array([[0.9, 0.1, 0.5], [0.8, 0.7, 0.6], [0.3, 0.3, 0.3]])
    # q0 is right; q1 loses to one candidate; q2 ties with the two earlier candidates
    np.testing.assert_array_equal(ranks_of_targets(scores), [1, 2, 3])
    with pytest.raises(ValueError, match="square"):
        ranks_of_targets(scores[:, :2])


def test_ranks_of_targets_off_the_diagonal():
    scores = np.array(
        [
            [0.2, 0.5, 0.5, 0.1],  # target 2: tied with the earlier column 1 -> 2
            [0.4, 0.4, 0.9, 0.4],  # target 3: below 0.9, tied with columns 0, 1 -> 4
            [0.7, 0.1, 0.2, 0.3],  # target 0: best -> 1
        ]
    )
    np.testing.assert_array_equal(ranks_of_targets(scores, np.array([2, 3, 0])), [2, 4, 1])
    np.testing.assert_array_equal(ranks_of_targets(scores, [1, 1, 1]), [1, 3, 4])
    for bad in ([2, 4, 0], [2, -1, 0], [2, 3], [2.0, 3.0, 0.0]):
        with pytest.raises(ValueError, match="targets must be"):
            ranks_of_targets(scores, bad)


def test_ranks_of_several_correct_candidates():
    scores = np.array(
        [
            [0.5, 0.9, 0.5, 0.9, 0.1],  # correct {2, 3}: best is 3 (0.9), after column 1 -> 2
            [0.3, 0.8, 0.3, 0.2, 0.3],  # correct {2, 4}: best is 2 (0.3), after 1 and 0 -> 3
            [0.1, 0.2, 0.3, 0.4, 0.5],  # all correct -> 1
        ]
    )
    mask = np.zeros(scores.shape, dtype=bool)
    mask[0, [2, 3]] = mask[1, [2, 4]] = mask[2, :] = True
    np.testing.assert_array_equal(ranks_of_targets(scores, mask), [2, 3, 1])
    # one correct candidate per query: the same as giving its column
    one_hot = np.eye(5, dtype=bool)[[4, 0, 2]]
    np.testing.assert_array_equal(ranks_of_targets(scores, one_hot), [5, 2, 3])
    # a correct candidate at the lowest score, tied with an earlier wrong one
    np.testing.assert_array_equal(ranks_of_targets([[-INF, -INF]], [[False, True]]), [2])
    mask[1] = False
    with pytest.raises(ValueError, match="at least one correct"):
        ranks_of_targets(scores, mask)
    with pytest.raises(ValueError, match="shape"):
        ranks_of_targets(scores, mask[:, :2])


def test_tie_rule_only_earlier_ties_count():
    """The module's rule: among equal scores the smaller column ranks first, so a correct
    candidate first among tied ones ranks before them, and last among them after them."""
    scores = np.array(
        [
            [0.4, 0.4, 0.4, 0.1],  # target 0, first of the tied columns 0, 1, 2 -> 1
            [0.1, 0.4, 0.4, 0.4],  # target 3, last of the tied columns 1, 2, 3 -> 3
            [0.2, 0.7, 0.7, 0.7],  # target 1, first of the tied 1, 2, 3, none better -> 1
            [0.7, 0.7, 0.7, 0.9],  # target 2, last of the tied 0, 1, 2, below column 3 -> 4
        ]
    )
    targets = [0, 3, 1, 2]
    np.testing.assert_array_equal(ranks_of_targets(scores, targets), [1, 3, 1, 4])
    mask = np.eye(4, dtype=bool)[targets]
    np.testing.assert_array_equal(ranks_of_targets(scores, mask), [1, 3, 1, 4])
    # several correct candidates among tied ones: the first of them counts
    several = np.zeros((4, 4), dtype=bool)
    several[0, [1, 2]] = several[1, [1, 3]] = several[2, [2, 3]] = several[3, [0, 2]] = True
    np.testing.assert_array_equal(ranks_of_targets(scores, several), [2, 1, 2, 2])
    # on the diagonal: a fully tied matrix ranks query i at i + 1
    np.testing.assert_array_equal(ranks_of_targets(np.full((3, 3), 0.5)), [1, 2, 3])
    # top_k lists the tied candidates in the same order
    _, ids = top_k(scores[:2], 3)
    np.testing.assert_array_equal(ids, [[0, 1, 2], [1, 2, 3]])
    np.testing.assert_array_equal(ranks_from_top_k(ids, [0, 3]), [1, 3])


def test_ranks_match_a_sorted_reference_with_many_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(30, 25))
    targets = rng.integers(0, 25, size=30)
    expected = [reference_order(row).index(t) + 1 for row, t in zip(scores, targets, strict=True)]
    np.testing.assert_array_equal(ranks_of_targets(scores, targets), expected)
    mask = rng.random((30, 25)) < 0.15
    mask[np.arange(30), targets] = True
    expected = [
        min(reference_order(row).index(j) + 1 for j in np.flatnonzero(m))
        for row, m in zip(scores, mask, strict=True)
    ]
    np.testing.assert_array_equal(ranks_of_targets(scores, mask), expected)


def test_top_k_by_hand():
    scores = np.array([[0.3, 0.9, 0.3, 0.9, 0.1], [1.0, 2.0, 3.0, 4.0, 5.0]])
    values, ids = top_k(scores, 3)
    np.testing.assert_array_equal(ids, [[1, 3, 0], [4, 3, 2]])
    np.testing.assert_array_equal(values, [[0.9, 0.9, 0.3], [5.0, 4.0, 3.0]])
    values, ids = top_k(scores, 10)  # clamped to the 5 candidates
    np.testing.assert_array_equal(ids, [[1, 3, 0, 2, 4], [4, 3, 2, 1, 0]])
    assert values.shape == (2, 5)
    with pytest.raises(ValueError, match="k must be"):
        top_k(scores, 0)
    with pytest.raises(ValueError, match="at least one candidate"):
        top_k(np.zeros((2, 0)), 1)


@pytest.mark.parametrize(
    ("shape", "levels", "k"),
    [((30, 50), 4, 1), ((30, 50), 4, 7), ((30, 50), 2, 30), ((30, 50), 4, 50), ((5, 2000), 9, 20)],
)
def test_top_k_matches_a_sorted_reference(shape, levels, k):
    rng = np.random.default_rng(k)
    scores = rng.integers(0, levels, size=shape)  # integer scores: ties everywhere
    values, ids = top_k(scores, k)
    expected = np.array([reference_order(row)[:k] for row in scores])
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_array_equal(values, np.take_along_axis(scores, expected, axis=1))
    floats = rng.standard_normal(shape)
    _, ids = top_k(floats, k)
    np.testing.assert_array_equal(ids, [reference_order(row)[:k] for row in floats])


def test_ranks_from_top_k_by_hand():
    ids = np.array([[4, 2, 7], [1, 0, 3], [5, -1, -1]])  # -1: padding of a short result
    ranks = ranks_from_top_k(ids, [7, 9, 5])
    np.testing.assert_array_equal(ranks, [3, INF, 1])
    np.testing.assert_array_equal(ranks_from_top_k(ids, np.array([4, 3, -2])), [1, 3, INF])
    np.testing.assert_array_equal(ranks_from_top_k(ids, [{2, 7}, {0, 3}, set()]), [2, 2, INF])
    np.testing.assert_array_equal(ranks_from_top_k(ids, [[9], [3, 1], [6, 8]]), [INF, 1, INF])
    measures = retrieval_measures(ranks, cutoffs=(1, 3))
    assert measures == pytest.approx({"r@1": 1 / 3, "r@3": 2 / 3, "mrr": (1 / 3 + 0 + 1) / 3})
    with pytest.raises(ValueError, match="one target per query"):
        ranks_from_top_k(ids, [7, 9])


def test_retrieval_measures_by_hand():
    measures = retrieval_measures(np.array([1, 2, 3, 6, 11]))
    assert tuple(measures) == MEASURES
    expected = {
        "r@1": 0.2,
        "r@5": 0.6,
        "r@10": 0.8,
        "mrr": (1 + 1 / 2 + 1 / 3 + 1 / 6 + 1 / 11) / 5,
    }
    assert measures == pytest.approx(expected)
    assert retrieval_measures([1, 2, 3, 4], cutoffs=(2,)) == pytest.approx(
        {"r@2": 0.5, "mrr": (1 + 1 / 2 + 1 / 3 + 1 / 4) / 4}
    )
    with pytest.raises(ValueError, match="cutoff must be"):
        retrieval_measures([1], cutoffs=(0,))


@pytest.mark.parametrize("multi", [False, True])
def test_measures_from_top_k_lists_equal_those_of_the_full_matrix(multi):
    rng = np.random.default_rng(7)
    scores = rng.integers(0, 6, size=(60, 80))
    targets = rng.integers(0, 80, size=60)
    if multi:
        mask = rng.random(scores.shape) < 0.03
        mask[np.arange(60), targets] = True
        full = ranks_of_targets(scores, mask)
        wanted = [set(np.flatnonzero(m)) for m in mask]
    else:
        full = ranks_of_targets(scores, targets)
        wanted = targets
    k = 10
    _, ids = top_k(scores, k)
    listed = ranks_from_top_k(ids, wanted)
    assert (full > k).any() and (full <= k).any()
    # the same rank within the list, "not retrieved" beyond it
    np.testing.assert_array_equal(listed, np.where(full <= k, full, INF))
    from_lists, from_matrix = retrieval_measures(listed), retrieval_measures(full)
    for measure in ("r@1", "r@5", "r@10"):
        assert from_lists[measure] == from_matrix[measure]
    # MRR@k: targets beyond the list count 0, so it is below the full MRR here
    assert from_lists["mrr"] == pytest.approx(np.mean(np.where(full <= k, 1 / full, 0)))
    assert from_lists["mrr"] < from_matrix["mrr"]


HUB = np.array([[0.70, 0.20, 0.75], [0.20, 0.70, 0.75], [0.10, 0.10, 0.80]])


def test_csls_and_margin_fix_a_hub_by_hand():
    # k = 2: r(q) = (0.725, 0.725, 0.45), r(c) = (0.45, 0.45, 0.775)
    csls = normalize_scores(HUB, "csls", k=2)
    assert csls[0, 0] == pytest.approx(1.4 - 0.725 - 0.45)
    assert csls[0, 2] == pytest.approx(1.5 - 0.725 - 0.775)
    margin = normalize_scores(HUB, "margin", k=2)
    assert margin[0, 0] == pytest.approx(0.7 / ((0.725 + 0.45) / 2))
    assert margin[2, 2] == pytest.approx(0.8 / ((0.45 + 0.775) / 2))
    assert retrieval_measures(ranks_of_targets(HUB))["r@1"] == pytest.approx(1 / 3)
    for method in ("csls", "margin"):
        assert (
            retrieval_measures(ranks_of_targets(normalize_scores(HUB, method, k=2)))["r@1"] == 1.0
        )
    np.testing.assert_array_equal(normalize_scores(HUB, "none"), HUB)
    with pytest.raises(ValueError, match="normalization must be"):
        normalize_scores(HUB, "zscore")


def test_bootstrap_interval_brackets_the_estimate_and_is_seeded():
    ranks = np.array([1] * 30 + [2] * 10)
    low, high = bootstrap_interval(ranks, samples=500, seed=3)
    assert low < 0.75 < high and 0.55 < low and high < 0.95
    assert (low, high) == bootstrap_interval(ranks, samples=500, seed=3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("zscore", 10, 0, 0), "normalization must be"),
        (("csls", 0, 0, 0), "k \\(neighbours"),
        (("none", 10, -1, 0), "bootstrap"),
        (("none", 10, 0, -1), "seed"),
    ],
)
def test_check_scoring_options(options, message):
    check_scoring_options("margin", 5, 100, 1)
    with pytest.raises(ValueError, match=message):
        check_scoring_options(*options)


def test_ranking_imports_numpy_only():
    tree = ast.parse(Path(seqsim.ranking.__file__).read_text())
    modules = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert modules <= {
        "__future__",
        "numbers",
        "collections.abc",
        "typing",
        "numpy",
        "numpy.typing",
        "checks",
    }
