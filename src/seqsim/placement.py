"""Where work runs, as one object with three methods: this process (:data:`HERE`) or a Ray
cluster (:class:`~seqsim.distributed.RayCluster`). Each method takes what runs locally and
returns what runs there, with the same methods and results, so the code that uses them never
asks where it runs:

- ``place.metric(metric)``: a metric (its ``matrix`` and rerank);
- ``place.index(index)``: a :class:`~seqsim.search.SequenceIndex` (its ``search``);
- ``place.embedding()``: an :class:`~seqsim.embedding.EmbeddingRunner` (its ``embed``).

Examples
--------
>>> from seqsim import SeqSim
>>> from seqsim.placement import HERE
>>> metric = SeqSim()
>>> HERE.metric(metric) is metric, HERE.embedding()
(True, LocalEmbedding())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .embedding import EmbeddingRunner
    from .metrics.base import Metric
    from .search.index import SequenceIndex


class Placement(Protocol):
    """What :data:`HERE` and a :class:`~seqsim.distributed.RayCluster` offer."""

    def metric(self, metric: Metric) -> Metric:
        """``metric``, scoring where this placement runs."""
        ...

    def index(self, index: SequenceIndex) -> SequenceIndex:
        """``index``, searching where this placement runs."""
        ...

    def embedding(self) -> EmbeddingRunner:
        """The runner that embeds into a store where this placement runs."""
        ...


class ThisProcess:
    """This process: a metric and an index as they are, embedding by
    :class:`~seqsim.embedding.LocalEmbedding`. Use its one instance, :data:`HERE`."""

    def __repr__(self) -> str:
        return "HERE"

    def metric(self, metric: Metric) -> Metric:
        """``metric`` itself."""
        return metric

    def index(self, index: SequenceIndex) -> SequenceIndex:
        """``index`` itself."""
        return index

    def embedding(self) -> EmbeddingRunner:
        """A :class:`~seqsim.embedding.LocalEmbedding`."""
        from .embedding import LocalEmbedding

        return LocalEmbedding()


HERE = ThisProcess()
"""This process, as a :class:`Placement`."""
