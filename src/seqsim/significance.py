"""How sure a mean R@1 is, and whether two results differ: tests on the per-query hits.

A query is a *hit* when its correct candidate ranks first (``rank == 1`` in
:attr:`RetrievalResult.ranks <seqsim.result.RetrievalResult.ranks>`). A result's mean R@1 is
the mean over its language pairs of each pair's hit rate (:meth:`RetrievalResult.mean
<seqsim.result.RetrievalResult.mean>`); the pooled rows of an index search are left out.

- :func:`mean_r1_interval`: a percentile bootstrap interval of the mean R@1. The unit
  resampled is the *sentence* (the ``sentence`` column of the ranks, else the query's id):
  a sentence is a query in every language pair, so its hits are not independent, and
  resampling whole sentences keeps them together.
- :func:`compare_results`: two results of the same queries (two metrics, layers or models),
  compared on their hits: the difference of their mean R@1 with a *paired* bootstrap
  interval and p-value (the same resampled sentences for both), and McNemar's exact test on
  the queries that one result gets right and the other wrong. McNemar's test takes the
  queries as independent; the bootstrap does not, so where the two disagree, trust the
  bootstrap.

Examples
--------
>>> import pandas as pd
>>> from seqsim.result import RetrievalResult
>>> from seqsim.significance import compare_results
>>> ranks = pd.DataFrame({"query_lang": "en", "candidate_lang": "fr",
...                       "id": [f"s{n}" for n in range(8)], "rank": [1] * 6 + [2, 2]})
>>> worse = ranks.assign(rank=[1, 1] + [3] * 6)
>>> better, other = (RetrievalResult(["en", "fr"], pd.DataFrame(), r) for r in (ranks, worse))
>>> comparison = compare_results(better, other, samples=2000)
>>> comparison.difference, comparison.only_first, comparison.only_second
(0.5, 4, 0)
>>> round(comparison.p_mcnemar, 4)  # 2 * 0.5 ** 4
0.125
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats

from ._defaults import DEFAULT_SEED
from .result import LABELS, RetrievalResult
from .search.retrieval import POOLED

SIGNIFICANCE_SAMPLES = 1000
"""Bootstrap samples of :func:`mean_r1_interval` and :func:`compare_results` by default."""
LEVEL = 0.95
"""The confidence level of the intervals."""
METHOD = (
    "per-query hits (rank 1); percentile bootstrap over sentences (a sentence's queries in "
    "every language pair resampled together), paired for comparisons; McNemar's exact test "
    "on the discordant queries"
)
"""How the tests are made, as ``results.json`` records it."""
_QUERY = (*LABELS, "id")
"""The columns that name a query of a result: one row of its ranks."""


class SignificanceError(ValueError):
    """Results that cannot be tested: without per-query ranks, or two results whose queries
    differ; the message names what is missing.

    Examples
    --------
    >>> from seqsim.significance import SignificanceError
    >>> issubclass(SignificanceError, ValueError)
    True
    """


@dataclass(frozen=True)
class Interval:
    """A mean R@1 and its bootstrap interval, as fractions.

    Examples
    --------
    >>> from seqsim.significance import Interval
    >>> Interval(0.5, 0.25, 0.75).high
    0.75
    """

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    """Two results compared on their per-query hits (:func:`compare_results`).

    Attributes
    ----------
    queries : int
        The queries both results rank (pooled rows left out).
    difference : float
        Mean R@1 of the first less that of the second (a fraction, in [-1, 1]).
    low, high : float
        The paired bootstrap interval of ``difference``.
    p_bootstrap : float
        Two-sided bootstrap p-value of ``difference == 0``: twice the share of resampled
        differences on the far side of 0 (at least ``1 / (samples + 1)``, at most 1).
    only_first, only_second : int
        Queries that only the first result, or only the second, gets right.
    p_mcnemar : float
        McNemar's exact two-sided p-value: the binomial probability, at one half, of a split
        of the ``only_first + only_second`` discordant queries as uneven as this one (1 with
        none).

    Examples
    --------
    >>> from seqsim.significance import Comparison
    >>> Comparison(40, 0.1, 0.05, 0.15, 0.002, 5, 1, 0.1875).only_first
    5
    """

    queries: int
    difference: float
    low: float
    high: float
    p_bootstrap: float
    only_first: int
    only_second: int
    p_mcnemar: float


@dataclass(frozen=True)
class ResultSignificance:
    """A result's mean R@1 with its interval, and its paired tests against the results it is
    compared with, as a report writes them (:func:`result_significance`).

    Attributes
    ----------
    mean_r1 : Interval
        The mean R@1 and its bootstrap interval (:func:`mean_r1_interval`).
    comparisons : dict of str to Comparison
        Per other result (by its name in the report, e.g. ``avgsim_layer6``), this result
        compared with it (:func:`compare_results`, this result first).
    samples, seed : int
        The bootstrap samples and their seed.
    level : float
        The confidence level.

    Examples
    --------
    >>> from seqsim.significance import Interval, ResultSignificance
    >>> record = ResultSignificance(Interval(0.5, 0.25, 0.75), {}, 1000, 0, 0.95).to_dict()
    >>> record["mean_r@1"]
    {'value': 0.5, 'ci_low': 0.25, 'ci_high': 0.75}
    """

    mean_r1: Interval
    comparisons: dict[str, Comparison]
    samples: int
    seed: int
    level: float

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data: the ``significance`` part of a report's
        ``results.json``.

        Returns
        -------
        dict
            ``method``, ``samples``, ``seed``, ``level``, ``mean_r@1`` (value, ci_low,
            ci_high, fractions) and ``comparisons`` (one object per other result: its
            ``name`` and the fields of :class:`Comparison`).
        """
        return {
            "method": METHOD,
            "samples": self.samples,
            "seed": self.seed,
            "level": self.level,
            "mean_r@1": {
                "value": self.mean_r1.value,
                "ci_low": self.mean_r1.low,
                "ci_high": self.mean_r1.high,
            },
            "comparisons": [
                {"name": name, **asdict(comparison)}
                for name, comparison in self.comparisons.items()
            ],
        }


def result_significance(
    result: RetrievalResult,
    others: Mapping[str, RetrievalResult] | None = None,
    samples: int = SIGNIFICANCE_SAMPLES,
) -> ResultSignificance | None:
    """A result's mean R@1 interval and its paired tests against ``others``.

    Parameters
    ----------
    result : RetrievalResult
        The result.
    others : mapping of str to RetrievalResult, optional
        The results it is compared with, by name; each must rank the same queries.
    samples : int, default 1000
        Bootstrap samples, drawn from the result's seed (``settings["seed"]``, else 0).

    Returns
    -------
    ResultSignificance or None
        None for a result without ranks (nothing to test).

    Raises
    ------
    SignificanceError
        Where another result ranks other queries.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.result import RetrievalResult
    >>> from seqsim.significance import result_significance
    >>> ranks = pd.DataFrame({"query_lang": "en", "candidate_lang": "fr",
    ...                       "id": ["s1", "s2"], "rank": [1, 2]})
    >>> result = RetrievalResult(["en", "fr"], pd.DataFrame(), ranks)
    >>> record = result_significance(result, {"copy": result})
    >>> record.mean_r1.value, record.comparisons["copy"].difference
    (0.5, 0.0)
    >>> print(result_significance(RetrievalResult(["en", "fr"], pd.DataFrame(), pd.DataFrame())))
    None
    """
    if result.ranks.empty:
        return None
    seed = int(result.settings.get("seed", DEFAULT_SEED))
    comparisons = {
        name: compare_results(result, other, samples, seed)
        for name, other in (others or {}).items()
    }
    return ResultSignificance(
        mean_r1_interval(result, samples, seed), comparisons, samples, seed, LEVEL
    )


def query_hits(result: RetrievalResult) -> pd.DataFrame:
    """Each query of a result, whether it is a hit, and the sentence it says.

    Parameters
    ----------
    result : RetrievalResult
        A result with ranks.

    Returns
    -------
    pandas.DataFrame
        Indexed by (query_lang, candidate_lang, id), sorted; columns ``hit`` (bool) and
        ``sentence`` (the ranks' sentence, else the id). Pooled rows are left out.

    Raises
    ------
    SignificanceError
        For a result without ranks.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.result import RetrievalResult
    >>> from seqsim.significance import query_hits
    >>> ranks = pd.DataFrame({"query_lang": "en", "candidate_lang": "fr", "id": ["b", "a"],
    ...                       "rank": [1, 4]})
    >>> query_hits(RetrievalResult(["en", "fr"], pd.DataFrame(), ranks))["hit"].tolist()
    [False, True]
    """
    ranks = result.ranks
    if ranks.empty or "rank" not in ranks.columns:
        raise SignificanceError(
            f"the result of settings {result.settings_hash} has no per-query ranks to test"
        )
    ranks = ranks[ranks["candidate_lang"] != POOLED]
    sentence = ranks["sentence"] if "sentence" in ranks.columns else ranks["id"]
    table = pd.DataFrame(
        {"hit": ranks["rank"].to_numpy(dtype=float) == 1, "sentence": sentence.astype(str)}
    )
    table.index = pd.MultiIndex.from_frame(ranks[list(_QUERY)].astype(str))
    return table.sort_index()


def mean_r1_interval(
    result: RetrievalResult,
    samples: int = SIGNIFICANCE_SAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = LEVEL,
) -> Interval:
    """The mean R@1 of a result with a bootstrap interval that resamples sentences.

    Parameters
    ----------
    result : RetrievalResult
        A result with ranks.
    samples : int, default 1000
        Bootstrap samples.
    seed : int, default 0
        Seed of the resampling.
    level : float, default 0.95
        Confidence level of the percentile interval.

    Returns
    -------
    Interval
        The mean over language pairs of each pair's hit rate, and its interval.

    Raises
    ------
    SignificanceError
        For a result without ranks.

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.result import RetrievalResult
    >>> from seqsim.significance import mean_r1_interval
    >>> ranks = pd.DataFrame({"query_lang": "en", "candidate_lang": "fr",
    ...                       "id": [f"s{n}" for n in range(10)], "rank": [1] * 7 + [2] * 3})
    >>> interval = mean_r1_interval(RetrievalResult(["en", "fr"], pd.DataFrame(), ranks))
    >>> interval.value, interval.low < 0.7 < interval.high
    (0.7, True)
    """
    hits = query_hits(result)
    design = _Design(hits)
    means = design.means(hits["hit"], design.weights(samples, seed))
    low, high = _percentiles(means, level)
    return Interval(design.mean(hits["hit"]), low, high)


def compare_results(
    first: RetrievalResult,
    second: RetrievalResult,
    samples: int = SIGNIFICANCE_SAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = LEVEL,
) -> Comparison:
    """Paired tests of two results of the same queries (two metrics, layers or models).

    Parameters
    ----------
    first, second : RetrievalResult
        Results with ranks of the same queries: the same (query_lang, candidate_lang, id)
        rows.
    samples : int, default 1000
        Bootstrap samples (the same resampled sentences for both results).
    seed : int, default 0
        Seed of the resampling.
    level : float, default 0.95
        Confidence level of the interval of the difference.

    Returns
    -------
    Comparison
        The difference of mean R@1 (first less second) with its paired bootstrap interval
        and p-value, and McNemar's exact test on the discordant queries.

    Raises
    ------
    SignificanceError
        For a result without ranks, or results whose queries differ (naming one of them).

    Examples
    --------
    >>> import pandas as pd
    >>> from seqsim.result import RetrievalResult
    >>> from seqsim.significance import compare_results
    >>> ranks = pd.DataFrame({"query_lang": "en", "candidate_lang": "fr",
    ...                       "id": ["s1", "s2", "s3"], "rank": [1, 1, 2]})
    >>> same = RetrievalResult(["en", "fr"], pd.DataFrame(), ranks)
    >>> comparison = compare_results(same, same)
    >>> comparison.difference, comparison.p_bootstrap, comparison.p_mcnemar
    (0.0, 1.0, 1.0)
    """
    hits, other = query_hits(first), query_hits(second)
    _check_same_queries(hits, other)
    design = _Design(hits)
    weights = design.weights(samples, seed)
    differences = design.means(hits["hit"], weights) - design.means(other["hit"], weights)
    low, high = _percentiles(differences, level)
    only_first = int((hits["hit"] & ~other["hit"]).sum())
    only_second = int((~hits["hit"] & other["hit"]).sum())
    return Comparison(
        queries=len(hits),
        difference=design.mean(hits["hit"]) - design.mean(other["hit"]),
        low=low,
        high=high,
        p_bootstrap=_bootstrap_p(differences),
        only_first=only_first,
        only_second=only_second,
        p_mcnemar=mcnemar_p(only_first, only_second),
    )


def mcnemar_p(only_first: int, only_second: int) -> float:
    """McNemar's exact two-sided p-value for the discordant counts of two paired tests.

    Parameters
    ----------
    only_first, only_second : int
        Queries that only the first, or only the second, gets right.

    Returns
    -------
    float
        ``min(1, 2 P(X <= min(b, c)))`` for X binomial with ``b + c`` trials at one half;
        1 without discordant queries.

    Examples
    --------
    >>> from seqsim.significance import mcnemar_p
    >>> mcnemar_p(5, 0), mcnemar_p(3, 1), mcnemar_p(0, 0)  # 2/32, 2 * 5/16
    (0.0625, 0.625, 1.0)
    """
    discordant = only_first + only_second
    if discordant == 0:
        return 1.0
    tail = stats.binom.cdf(min(only_first, only_second), discordant, 0.5)
    return float(min(1.0, 2 * tail))


def _check_same_queries(first: pd.DataFrame, second: pd.DataFrame) -> None:
    """Both results rank the same queries."""
    if first.index.equals(second.index):
        return
    missing = first.index.difference(second.index)
    extra = second.index.difference(first.index)
    query, whose = (missing[0], "the second") if len(missing) else (extra[0], "the first")
    raise SignificanceError(
        f"the two results rank different queries: {whose} lacks the query {query[2]!r} of "
        f"{query[0]} -> {query[1]}; paired tests need the same queries (the same corpus and "
        "languages)"
    )


class _Design:
    """The queries of a result as a sentences x pairs design: a bootstrap sample weighs each
    sentence by how often it was drawn, and each pair's hit rate is the weighted mean of its
    queries."""

    def __init__(self, hits: pd.DataFrame) -> None:
        pairs = pd.MultiIndex.from_arrays([hits.index.get_level_values(label) for label in LABELS])
        self.pair, _ = pd.factorize(pairs)
        self.sentence, sentences = pd.factorize(hits["sentence"])
        self.sentences = len(sentences)
        self.pairs = int(self.pair.max()) + 1

    def _incidence(self, values: np.ndarray) -> sparse.csr_matrix:
        """(sentences, pairs): the sum of ``values`` over each sentence's queries of a pair."""
        return sparse.csr_matrix(
            (values, (self.sentence, self.pair)), shape=(self.sentences, self.pairs)
        )

    def weights(self, samples: int, seed: int) -> np.ndarray:
        """(samples, sentences): how often each sentence is drawn in each bootstrap sample."""
        rng = np.random.default_rng(seed)
        return rng.multinomial(self.sentences, np.full(self.sentences, 1 / self.sentences), samples)

    def means(self, hits: pd.Series, weights: np.ndarray) -> np.ndarray:
        """The mean over pairs of each pair's weighted hit rate, per bootstrap sample."""
        right = self._incidence(hits.to_numpy(dtype=float))
        asked = self._incidence(np.ones(len(hits)))
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = (right.T @ weights.T).T / (asked.T @ weights.T).T
        return np.nanmean(rates, axis=1)  # a pair none of whose sentences was drawn is left out

    def mean(self, hits: pd.Series) -> float:
        """The mean over pairs of each pair's hit rate (every sentence once)."""
        return float(self.means(hits, np.ones((1, self.sentences)))[0])


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap values."""
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _bootstrap_p(differences: np.ndarray) -> float:
    """Two-sided p-value of a zero difference from its bootstrap distribution."""
    below = (np.count_nonzero(differences <= 0) + 1) / (len(differences) + 1)
    above = (np.count_nonzero(differences >= 0) + 1) / (len(differences) + 1)
    return float(min(1.0, 2 * min(below, above)))
