"""Sequences added to an index in several parts (arrays, a store's memory map), read as one."""

from __future__ import annotations

import numpy as np

from ..sequences import PackedSequences, to_float32_numpy


class SequenceCollection:
    """Parts appended in order; sequence ``i`` of the whole is found in its part."""

    def __init__(self) -> None:
        self.parts: list[PackedSequences] = []
        self.starts = np.zeros(1, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    @property
    def dim(self) -> int | None:
        """The frame dimension (None while there is no part)."""
        return self.parts[0].dim if self.parts else None

    def append(self, part: PackedSequences) -> None:
        """Add ``part`` after the others (kept as it is: a memory map stays one)."""
        self.parts.append(part)
        self.starts = np.append(self.starts, self.starts[-1] + len(part))

    def subset(self, ids: np.ndarray) -> PackedSequences:
        """Sequences ``ids`` in that order (gathered; a memory map is read only there)."""
        if len(self.parts) == 1:
            return self.parts[0].subset(ids)
        owners = np.searchsorted(self.starts, ids, side="right") - 1
        pieces = [
            to_float32_numpy(self.parts[owner][int(number - self.starts[owner])])
            for owner, number in zip(owners, ids, strict=True)
        ]
        return PackedSequences.from_lengths(np.concatenate(pieces), [len(p) for p in pieces])

    def whole(self) -> PackedSequences:
        """Every sequence, in order: the one part itself where there is one (a store's memory
        map stays a memory map, read block by block by the metric), else a gathered copy."""
        return self.parts[0] if len(self.parts) == 1 else self.subset(np.arange(len(self)))

    def packed_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every frame back to back, and the lengths (for saving)."""
        whole = self.whole()
        return np.asarray(whole.frames), whole.lengths
