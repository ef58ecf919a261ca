"""The evaluator's options, as the metrics' are: frozen dataclasses, each checked once, when it
is made. :class:`ScoringOptions` say how scores become ranks (hubness correction, centering,
bootstrap, seed); :class:`SearchOptions` how candidates are found (every one scored, or an
index's shortlist reranked). :func:`~seqsim.evaluation.evaluate`,
:func:`~seqsim.evaluation.evaluate_grid` and :func:`~seqsim.evaluation.evaluate_embeddings`
take them, and the command line builds them from its options.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from ._defaults import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_CANDIDATES,
    DEFAULT_SEARCH,
    DEFAULT_SEED,
    SEARCH_MODES,
)
from .checks import check_choice, check_count, check_flag, option
from .ranking import (
    DEFAULT_NEIGHBOURS,
    DEFAULT_NORMALIZATION,
    Normalization,
    check_scoring_options,
)

Search = Literal["exhaustive", "index"]


@dataclass(frozen=True)
class ScoringOptions:
    """How a language pair's scores become ranks and measures.

    Parameters
    ----------
    normalization : {"none", "csls", "margin"}, default "none"
        Rescore each (Q, R) matrix with CSLS or the ratio margin over ``k`` neighbours
        (:func:`~seqsim.ranking.normalize_scores`).
    k : int, default 10
        Neighbours for csls / margin (lowered to the smallest language's utterances, with a
        warning, where it is larger: :func:`~seqsim.evaluation.neighbours`).
    center : bool, default False
        Subtract each language's mean frame first (:func:`~seqsim.evaluation.
        center_by_language`).
    bootstrap : int, default 0
        Bootstrap samples of the R@1 interval (``ci_low``, ``ci_high``); 0 for none.
    seed : int, default 0
        Seed of the bootstrap, of the agreement sample and of ``recordings="one"``.

    Raises
    ------
    ValueError
        Naming the option and the value it got.

    Examples
    --------
    >>> from seqsim.evaluation_options import ScoringOptions
    >>> ScoringOptions("csls", k=5)
    ScoringOptions(normalization='csls', k=5, center=False, bootstrap=0, seed=0)
    >>> ScoringOptions(k=0)
    Traceback (most recent call last):
        ...
    ValueError: k (neighbours for csls / margin) must be an integer >= 1, got 0
    """

    normalization: Normalization = DEFAULT_NORMALIZATION
    k: int = DEFAULT_NEIGHBOURS
    center: bool = False
    bootstrap: int = DEFAULT_BOOTSTRAP
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        check_scoring_options(self.normalization, self.k, self.bootstrap, self.seed)
        check_flag("center", self.center)

    @property
    def full_matrices(self) -> bool:
        """Whether these options need every pair's full score matrix (an index's shortlist
        cannot give them)."""
        return self.normalization != "none" or self.center or self.bootstrap > 0

    def settings(self) -> dict[str, Any]:
        """The options by name, as results record them."""
        return asdict(self)


@dataclass(frozen=True)
class SearchOptions:
    """How each query's candidates are found.

    Parameters
    ----------
    mode : {"exhaustive", "index"}, default "exhaustive"
        Score every candidate, or retrieve through a :class:`~seqsim.search.SequenceIndex` (a
        shortlist of ``candidates``, reranked exactly), per pair and among all other
        languages pooled, with its agreement with exhaustive search reported. An index needs
        one recording per sentence and language, and scoring options that need no full
        matrix (:meth:`check_scoring`).
    candidates : int, default 100
        Shortlist length per query with ``mode="index"``.
    agreement_sample : int, optional
        Queries per pair checked against exhaustive search with ``mode="index"``; all by
        default.

    Raises
    ------
    ValueError
        Naming the option and the value it got.

    Examples
    --------
    >>> from seqsim.evaluation_options import ScoringOptions, SearchOptions
    >>> SearchOptions("index", candidates=50).candidates
    50
    >>> SearchOptions("fast")
    Traceback (most recent call last):
        ...
    ValueError: mode must be one of 'exhaustive', 'index'; got 'fast'
    >>> SearchOptions("index").check_scoring(ScoringOptions("csls"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: search='index' ranks by exact scores of a shortlist: normalization, center ...
    """

    mode: Search = DEFAULT_SEARCH  # type: ignore[assignment]
    candidates: int = DEFAULT_CANDIDATES
    agreement_sample: int | None = None

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, SEARCH_MODES)
        check_count("candidates", self.candidates, 1)
        if self.agreement_sample is not None:
            check_count("agreement_sample", self.agreement_sample, 1)

    def check_scoring(self, scoring: ScoringOptions) -> None:
        """Refuse scoring options an index search cannot give: they need full score matrices.

        Parameters
        ----------
        scoring : ScoringOptions
            The options to check against this search.

        Raises
        ------
        ValueError
            For ``mode="index"`` with a normalization, centering or a bootstrap.
        """
        if self.mode == "index" and scoring.full_matrices:
            raise ValueError(
                f"{option('search', 'index')} ranks by exact scores of a shortlist: "
                f"{option('normalization')}, {option('center')} and {option('bootstrap')} need "
                f"full score matrices (use {option('search', 'exhaustive')})"
            )
