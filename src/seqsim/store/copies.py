"""Which copy of a key's frames a store reads, layer by layer.

A key can be in several shards: written twice (two writers were given the same utterance), or
written with the layers the store held and again, in a later shard, with only the layers an
embed run adds (:func:`~seqsim.embed_runs.embed_with`). Its frames of layer K are
those of the first shard, in name order, that holds the key with layer K. A key is stored
(:meth:`~seqsim.store.EmbeddingStore.keys`, :meth:`~seqsim.store.EmbeddingStore.load`) once
it holds every layer of the store, so that a run adding layers, interrupted, leaves no key
with some of them visible.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from .shards import CorruptShardError, ShardContents


class Copies:
    """Every copy of every key in a store's shards.

    Parameters
    ----------
    contents : sequence of ShardContents
        The shards, in name order.

    Attributes
    ----------
    contents : list of ShardContents
        As given.
    rows : dict of str to list of (int, int)
        For every key, in order of first appearance, the (shard number, row) of each of its
        copies, in name order.

    Examples
    --------
    Key ``a`` written with layer 6, then given layer 4 in a later shard; key ``b`` has layer 4
    only:

    >>> import numpy as np
    >>> from pathlib import Path
    >>> from seqsim.store.copies import Copies
    >>> from seqsim.store.shards import ShardContents
    >>> first = ShardContents(Path("1.npz"), ["a"], np.array([3]), {6: 8})
    >>> later = ShardContents(Path("2.npz"), ["a", "b"], np.array([3, 2]), {4: 8})
    >>> copies = Copies([first, later])
    >>> sorted(copies.layers("a")), copies.holding([6]), copies.holding([4, 6])
    ([4, 6], ['a'], ['a'])
    >>> copies.pieces(["a"], 4), copies.lengths(["a"])
    ([(1, 0)], [3])
    """

    def __init__(self, contents: Sequence[ShardContents]) -> None:
        self.contents = list(contents)
        self._dims = [frozenset(shard.dims) for shard in self.contents]
        self.rows: dict[str, list[tuple[int, int]]] = {}
        for number, shard in enumerate(self.contents):
            for row, key in enumerate(shard.keys):
                self.rows.setdefault(key, []).append((number, row))

    def layers(self, key: str) -> frozenset[int]:
        """The layers ``key`` holds in any of its copies (none for a key not stored).

        Parameters
        ----------
        key : str
            An utterance's key.

        Returns
        -------
        frozenset of int
            Its layers.

        Examples
        --------
        >>> import numpy as np
        >>> from pathlib import Path
        >>> from seqsim.store.copies import Copies
        >>> from seqsim.store.shards import ShardContents
        >>> copies = Copies([ShardContents(Path("1.npz"), ["a"], np.array([3]), {6: 8})])
        >>> sorted(copies.layers("a")), sorted(copies.layers("z"))
        ([6], [])
        """
        copies = self.rows.get(key, [])
        if len(copies) == 1:
            return self._dims[copies[0][0]]
        return frozenset().union(*(self._dims[number] for number, _ in copies))

    def holding(self, layers: Collection[int]) -> list[str]:
        """The keys that hold every one of ``layers``, in order of first appearance.

        Parameters
        ----------
        layers : collection of int
            The layers asked for.

        Returns
        -------
        list of str
            Those keys.

        Examples
        --------
        >>> import numpy as np
        >>> from pathlib import Path
        >>> from seqsim.store.copies import Copies
        >>> from seqsim.store.shards import ShardContents
        >>> both = ShardContents(Path("1.npz"), ["a"], np.array([3]), {4: 8, 6: 8})
        >>> one = ShardContents(Path("2.npz"), ["b"], np.array([2]), {6: 8})
        >>> Copies([both, one]).holding([6]), Copies([both, one]).holding([4, 6])
        (['a', 'b'], ['a'])
        """
        wanted = frozenset(layers)
        return [key for key in self.rows if wanted <= self.layers(key)]

    def _first(self, key: str, layer: int) -> tuple[int, int]:
        """The (shard number, row) of the first copy of ``key`` that holds ``layer``."""
        copies = self.rows[key]
        if len(copies) == 1:
            return copies[0]
        return next(copy for copy in copies if layer in self._dims[copy[0]])

    def pieces(self, keys: Sequence[str], layer: int) -> list[tuple[int, int]]:
        """Where the frames of ``layer`` of each of ``keys`` are read from.

        Parameters
        ----------
        keys : sequence of str
            Keys that hold ``layer``.
        layer : int
            The layer.

        Returns
        -------
        list of (int, int)
            Per key, the (shard number, row) of its first copy that holds ``layer``.
        """
        return [self._first(key, layer) for key in keys]

    def lengths(self, keys: Sequence[str], layers: Collection[int] = ()) -> list[int]:
        """The frame count of each of ``keys``, the same in each copy read for ``layers``.

        Parameters
        ----------
        keys : sequence of str
            Stored keys.
        layers : collection of int, default ()
            The layers to be read: the copies each is read from must agree with the key's
            first copy.

        Returns
        -------
        list of int
            Frames per key, from its first copy.

        Raises
        ------
        CorruptShardError
            Naming a shard whose copy of a key has another frame count than its first copy.

        Examples
        --------
        >>> import numpy as np
        >>> from pathlib import Path
        >>> from seqsim.store.copies import Copies
        >>> from seqsim.store.shards import ShardContents
        >>> first = ShardContents(Path("1.npz"), ["a"], np.array([3]), {6: 8})
        >>> later = ShardContents(Path("2.npz"), ["a"], np.array([5]), {4: 8})
        >>> Copies([first, later]).lengths(["a"], [4, 6])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        seqsim.store.shards.CorruptShardError: 2.npz: corrupt shard (a has 5 frames here, 3 in ...
        """
        lengths = []
        for key in keys:
            copies = self.rows[key]
            first_number, first_row = copies[0]
            length = int(self.contents[first_number].lengths[first_row])
            read = {self._first(key, layer) for layer in layers} if len(copies) > 1 else ()
            for number, row in read:
                found = int(self.contents[number].lengths[row])
                if found != length:
                    first = self.contents[first_number].path.name
                    problem = f"{key} has {found} frames here, {length} in {first}"
                    raise CorruptShardError(self.contents[number].path, problem)
            lengths.append(length)
        return lengths
