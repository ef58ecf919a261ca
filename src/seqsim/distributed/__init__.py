"""seqsim past one machine, on Ray (``pip install 'seqsim-speech[ray]'``): embedding by a pool of
encoder actors that write one shared store, and all-pairs scoring and index search split by
query over the cluster. A cluster wraps what runs locally, with its methods and results, so
nothing outside this package knows about Ray. See docs/distributed.md.

- :class:`RayCluster`: the cluster (joined or started) and its workers; its example starts a
  local cluster, scores and searches on it, and stops it. ``cluster.metric(m)``,
  ``cluster.index(i)`` and ``cluster.embedding()`` wrap a metric, an index and an embedding
  run.
- :class:`ClusterMetric`: a metric whose ``matrix`` (and rerank) is scored on the cluster;
  an index, an evaluation or :func:`~seqsim.matrix_chunked` of it run there.
- :class:`RayEmbedding`: the ``embed`` of :class:`~seqsim.embedding.LocalEmbedding` by
  encoder actors writing one store (:func:`embed_on_ray`).
- :class:`RayNotInstalledError`, :class:`RayConnectionError`: Ray missing, or the cluster
  cannot be joined; :data:`RAY_EXTRA` says how to install Ray.

Ray is imported only when a cluster is used, so this package imports without it:

>>> from seqsim.distributed import RAY_EXTRA
>>> print(RAY_EXTRA)
pip install 'seqsim-speech[ray]'
"""

from .cluster import RAY_EXTRA, RayCluster, RayConnectionError, RayNotInstalledError
from .embedding import RayEmbedding, embed_on_ray
from .scoring import ClusterMetric

__all__ = [
    "RAY_EXTRA",
    "ClusterMetric",
    "RayCluster",
    "RayConnectionError",
    "RayEmbedding",
    "RayNotInstalledError",
    "embed_on_ray",
]
