"""seqsim past one machine, on Ray (``pip install 'seqsim-speech[ray]'``): embedding by a pool of
encoder actors that write one shared store, and all-pairs scoring and index search split by
query over the cluster. See docs/distributed.md.

- :class:`RayCluster`: the cluster (joined or started) and its workers; its example starts a
  local cluster, scores and searches on it, and stops it.
- :func:`embed_on_ray`: :meth:`EmbeddingStore.embed <seqsim.store.EmbeddingStore.embed>` by
  encoder actors writing one store.
- :func:`cluster_matrix`: ``metric.matrix`` with its query rows scored on the cluster;
  :func:`cluster_search`: ``SequenceIndex.search`` with the queries searched there (also
  reached through ``SequenceIndex.search(..., cluster=...)``). Results equal local ones.
- :class:`RayNotInstalledError`, :class:`RayConnectionError`: Ray missing, or the cluster
  cannot be joined; :data:`RAY_EXTRA` says how to install Ray.

Ray is imported only when a cluster is used, so this package imports without it:

>>> from seqsim.distributed import RAY_EXTRA
>>> print(RAY_EXTRA)
pip install 'seqsim-speech[ray]'
"""

from .cluster import RAY_EXTRA, RayCluster, RayConnectionError, RayNotInstalledError
from .embedding import embed_on_ray
from .scoring import cluster_matrix, cluster_search

__all__ = [
    "RAY_EXTRA",
    "RayCluster",
    "RayConnectionError",
    "RayNotInstalledError",
    "cluster_matrix",
    "cluster_search",
    "embed_on_ray",
]
