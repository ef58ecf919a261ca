"""The error of the search package."""

from __future__ import annotations


class SearchIndexError(ValueError):
    """An index file or a search that cannot be used; the message names it.

    A subclass of ``ValueError``: raised for a missing, damaged or outdated index file, a
    search of an empty index, and an ``add`` to an index that reads a store.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.search import SearchIndexError, SequenceIndex
    >>> try:
    ...     SequenceIndex().search([np.ones((2, 4), np.float32)])
    ... except SearchIndexError as error:
    ...     print(error)
    the index is empty: add sequences before searching
    """
