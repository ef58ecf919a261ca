"""Search: a sequence index with a faiss shortlist and an exact rerank by any metric.

- :class:`SequenceIndex`: add frame sequences (arrays, tensors, or a store's memory-mapped
  frames), search them (``(scores, ids)``, best first), save and load the index.
- Shortlist generators (stage 1): :class:`CentroidInteraction` (the default),
  :class:`FrameVotes`, :class:`MeanPooled`, or your own :class:`CandidateGenerator`
  (:func:`register_generator` names it, so that an index of it saves and loads).
- :func:`search_filtered`: a search among the candidates of some languages, without the
  query itself or its own language (:mod:`seqsim.search.filters`, which mining shares).
- :func:`agreement` and :class:`Agreement`: how often the index keeps exhaustive search's
  top-1.
- :class:`SearchIndexError`: an index file or a search that cannot be used.

See docs/searching.md for the generators' accuracy and speed.
"""

from .agreement import Agreement, agreement
from .candidates import (
    CandidateGenerator,
    CentroidInteraction,
    FrameVotes,
    MeanPooled,
    register_generator,
)
from .filtered import search_filtered
from .index import SearchIndexError, SequenceIndex

__all__ = [
    "Agreement",
    "CandidateGenerator",
    "CentroidInteraction",
    "FrameVotes",
    "MeanPooled",
    "SearchIndexError",
    "SequenceIndex",
    "agreement",
    "register_generator",
    "search_filtered",
]
