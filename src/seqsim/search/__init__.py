"""Search: a sequence index with a faiss shortlist and an exact rerank by any metric."""

from .candidates import CandidateGenerator, FrameVotes, MeanPooled
from .index import SearchIndexError, SequenceIndex

__all__ = ["CandidateGenerator", "FrameVotes", "MeanPooled", "SearchIndexError", "SequenceIndex"]
