"""seqsim past one machine, on Ray (``pip install 'seqsim[ray]'``): embedding by a pool of
encoder actors that write one shared store, and all-pairs scoring and index search split by
query over the cluster. See docs/distributed.md."""

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
