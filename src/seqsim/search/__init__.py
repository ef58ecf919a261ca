"""Search: a sequence index with a faiss shortlist and an exact rerank by any metric."""

from .agreement import Agreement, agreement
from .candidates import CandidateGenerator, CentroidInteraction, FrameVotes, MeanPooled
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
]
