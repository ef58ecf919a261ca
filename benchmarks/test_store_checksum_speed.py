"""What checking a layer file's CRC-32 costs a reader of a store (:mod:`seqsim.store.layers`).

A store of 10,000 utterances of about 150 frames, d = 512, float16 (a 1.5 GB layer file),
written through the writer API and consolidated. Each round opens it with
``EmbeddingStore.load(6)`` and touches every frame as a first search does (converts it to
float32, block by block): without the check (``verify=False``, the baseline), with it (the
default, the first load of the file in a process), and again once this process has checked the
file. The layer file is in the page cache in every round (it was just written), so the figures
are those of a warm cache: from a cold disk both reads wait for the same disk.
"""

from __future__ import annotations

import numpy as np
import pytest
from harness import DIM, MEAN_FRAMES, measure

from seqsim.store import EmbeddingStore
from seqsim.store import layers as layers_module

UTTERANCES = 10_000
LAYER = 6
SETTINGS = {"model": "benchmark", "layers": [LAYER], "dtype": "float16", "hidden_states": 7}
TOUCH_BLOCK = 65_536
GROUP = "store: load a 10k-utterance layer and touch it"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> EmbeddingStore:
    """10,000 utterances of 150 +- 25 frames: slices of one random pool at random offsets."""
    rng = np.random.default_rng(0)
    pool = rng.standard_normal((4 * MEAN_FRAMES, DIM)).astype(np.float16)
    lengths = np.clip(rng.normal(MEAN_FRAMES, 25, UTTERANCES).round(), 50, 300).astype(int)
    starts = rng.integers(0, len(pool) - lengths.max(), UTTERANCES)
    store = EmbeddingStore(tmp_path_factory.mktemp("checksum") / "store")
    with store.writer(SETTINGS) as writer:
        for number, (start, length) in enumerate(zip(starts, lengths, strict=True)):
            writer.add(f"u{number:05d}", {LAYER: pool[start : start + length]})
    store.consolidate()
    return store


def touch(frames: np.ndarray) -> float:
    """Read every frame as a first search does: converted to float32, a block at a time."""
    largest = 0.0
    for start in range(0, len(frames), TOUCH_BLOCK):
        block = np.asarray(frames[start : start + TOUCH_BLOCK], dtype=np.float32)
        largest = max(largest, float(np.abs(block).max()))
    return largest


def load_and_touch(store: EmbeddingStore, verify: bool) -> float:
    keys, packed = store.load(LAYER, verify=verify)
    assert len(keys) == UTTERANCES
    return touch(packed.frames)


def test_load_without_the_checksum(benchmark, store):
    measure(
        benchmark,
        lambda: load_and_touch(store, verify=False),
        group=GROUP,
        name="verify=False (trust the file)",
        items=UTTERANCES,
        baseline=True,
    )


def test_load_with_the_checksum_first_in_a_process(benchmark, store):
    def first_load() -> float:
        layers_module.VERIFIED_FILES.clear()  # as in a new process
        return load_and_touch(store, verify=True)

    measure(
        benchmark, first_load, group=GROUP, name="CRC-32 checked (first load)", items=UTTERANCES
    )


def test_load_with_the_checksum_checked_already(benchmark, store):
    load_and_touch(store, verify=True)
    measure(
        benchmark,
        lambda: load_and_touch(store, verify=True),
        group=GROUP,
        name="CRC-32 checked earlier in the process",
        items=UTTERANCES,
    )
