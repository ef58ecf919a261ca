"""The index's rerank on the GPU kernels (``--search-backend triton`` in
``benchmarks/test_search_speed.py``): one small synthetic index, searched with its metric on
each backend; the rerank on numba (the CPU) is the peer.

The index (5,000 candidates of about 150 frames, d = 512, random frames; 1,024 centroids) is
built once; the queries are noisy copies of 100 candidates, so each has a true match.
"""

from __future__ import annotations

from ..figures import Figure, PartLog
from ..sizing import Deadline, Series
from . import target

CANDIDATES = 5000
QUERIES = 100
CENTROIDS = 1024
DEVICE_BACKENDS = ("torch", "triton")


def run(log: PartLog, deadline: Deadline) -> None:
    import numpy as np
    from harness import make_sequences

    from seqsim import SeqSim
    from seqsim.search import SequenceIndex

    rng = np.random.default_rng(21)
    corpus = make_sequences(rng, CANDIDATES)
    planted = rng.choice(CANDIDATES, QUERIES, replace=False)
    queries = [corpus[i] + 0.3 * rng.standard_normal(corpus[i].shape, np.float32) for i in planted]
    index = SequenceIndex(centroids=CENTROIDS, backend="numba")
    index.add(corpus)
    size = f"{QUERIES} queries, {CANDIDATES} candidates, K={index.candidates}"
    for backend, device in [("numba", None), *[(b, target.DEVICE) for b in DEVICE_BACKENDS]]:
        index.metric = SeqSim(backend=backend, device=device)
        index.search(queries[:2], k=10)  # compiles, outside the timing
        found: list[np.ndarray] = []
        figure = Figure(
            "search",
            f"SequenceIndex rerank, {index.metric.backend}" + (" (peer)" if device is None else ""),
            size,
            "search",
            items=QUERIES,
            peer=device is None,
        )

        def search(index=index, found=found) -> None:
            found[:] = [index.search(queries, k=1)[1][:, 0]]

        if Series(deadline).run(log, 1.0, search, figure) and found:
            recall = float(np.mean(found[0] == planted))
            print(f"search {backend}: planted match found first for {recall:.0%} of queries")
