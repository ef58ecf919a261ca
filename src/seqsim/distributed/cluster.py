"""Where distributed work runs: a Ray cluster, joined or started, and the workers seqsim puts
on it.

Ray is an optional extra (``pip install 'seqsim-speech[ray]'``); this module imports it only when a
cluster is used, and says which package to install when it is missing.
"""

from __future__ import annotations

import copy
import importlib
import logging
import math
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from .._defaults import RAY_EXTRA
from ..checks import check_count, check_positive
from ..progress import progress_bar

if TYPE_CHECKING:
    from ..metrics.base import Metric
    from ..search.index import SequenceIndex
    from .embedding import RayEmbedding
    from .scoring import ClusterMetric

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10.0
"""How long :meth:`RayCluster.connect` waits for the head node at a ``host:port`` address to
answer before it gives up: Ray itself retries for many minutes, saying little."""

Shared = TypeVar("Shared")
Item = TypeVar("Item")
Result = TypeVar("Result")


class RayNotInstalledError(ImportError):
    """A distributed run was asked for, but Ray (or Ray Data) is not installed.

    The message names the missing package and how to install it (:data:`RAY_EXTRA`).

    Examples
    --------
    >>> from seqsim.distributed import RayNotInstalledError
    >>> from seqsim.distributed.cluster import require_ray
    >>> try:
    ...     require_ray("ray.no_such_module")
    ... except RayNotInstalledError as error:
    ...     print(str(error).split(" (")[0])
    running on a Ray cluster needs the package 'ray.no_such_module', which is not installed
    """


class RayConnectionError(ConnectionError):
    """The Ray cluster asked for cannot be joined; the message says what to check.

    Raised by :meth:`RayCluster.connect`: it names the address, the reason (nothing answers
    there within :data:`CONNECT_TIMEOUT_SECONDS`, or Ray's own), and how a cluster with token
    authentication is joined.

    Examples
    --------
    >>> from seqsim.distributed import RayConnectionError
    >>> issubclass(RayConnectionError, ConnectionError)
    True
    """


def require_ray(module: str = "ray") -> ModuleType:
    """Import ``module`` (``ray`` or ``ray.data``), or raise :class:`RayNotInstalledError`
    saying what to install.

    Parameters
    ----------
    module : str, default "ray"
        The module to import.

    Returns
    -------
    types.ModuleType
        The module.

    Raises
    ------
    RayNotInstalledError
        If it cannot be imported.

    Examples
    --------
    >>> from seqsim.distributed.cluster import require_ray
    >>> require_ray("ray.data").__name__
    'ray.data'
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise RayNotInstalledError(
            f"running on a Ray cluster needs the package {module!r}, which is not installed "
            f"({error}); install it with {RAY_EXTRA}"
        ) from None


def check_reachable(address: str | None, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Refuse a Ray head node that does not answer at its ``host:port`` within ``timeout``.

    ``ray.init`` retries an address where nothing listens for many minutes, with only its own
    log lines; a TCP connection tells at once (or within ``timeout``, for a host that does not
    answer at all). ``None`` is checked at ``RAY_ADDRESS``, where that names a host and port;
    ``"auto"`` and ``"local"`` (a cluster Ray finds or starts on this machine) are not checked;
    a ``ray://`` client address is checked at its host and port.

    Parameters
    ----------
    address : str or None
        What :class:`RayCluster` was given.
    timeout : float, default CONNECT_TIMEOUT_SECONDS
        Seconds to wait for the connection.

    Raises
    ------
    RayConnectionError
        ``cannot reach a Ray cluster at <address> within <timeout> s: <reason>``, with what to
        check.

    Examples
    --------
    >>> import socket
    >>> from seqsim.distributed.cluster import check_reachable
    >>> with socket.create_server(("127.0.0.1", 0)) as listening:
    ...     port = listening.getsockname()[1]
    ...     check_reachable(f"127.0.0.1:{port}")      # something answers: passes
    >>> check_reachable(f"127.0.0.1:{port}", timeout=2)
    Traceback (most recent call last):
        ...
    seqsim.distributed.cluster.RayConnectionError: cannot reach a Ray cluster at 127.0.0.1:...\
 within 2 s: Connection refused. Is it running...
    """
    named = address or os.environ.get("RAY_ADDRESS")
    head = _head_node(named)
    if head is None:
        return
    try:
        socket.create_connection(head, timeout=timeout).close()
    except OSError as error:
        raise RayConnectionError(
            f"cannot reach a Ray cluster at {named} within {timeout:g} s: "
            f"{error.strerror or error}. Is it running (`ray status` on its head node), and is "
            "that its GCS port (6379 unless `ray start --port` said otherwise)?"
        ) from None


def _head_node(address: str | None) -> tuple[str, int] | None:
    """The host and port of a Ray address; None for none, ``auto``, ``local``, or one that is
    not ``host:port`` (Ray's own error names that)."""
    if address is None or address in ("auto", "local"):
        return None
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def use_cpus(count: float) -> None:
    """Size the thread pools of torch, numba and the BLAS under numpy to the ``count`` CPUs Ray
    reserved for a worker (at least one thread), so that workers sharing a machine do not
    oversubscribe it. (A BLAS gives results that differ in the last bits with its number of
    threads: a worker matches a local run to the bit when both have as many threads.)"""
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    threads = max(1, int(count))
    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    threadpool_limits(limits=threads, user_api="blas")


@dataclass
class RayCluster:
    """A Ray cluster and the workers seqsim runs on it; use it as a context manager, or call
    :meth:`close` when done.

    Nothing connects when it is made: the first use joins or starts the cluster
    (:meth:`connect`). Work goes to it by wrapping what runs locally, with the same methods
    and results: :meth:`metric` (its ``matrix``), :meth:`index` (its ``search``) and
    :meth:`embedding` (``embed`` into a store). What uses them leaves the cluster open.

    Parameters
    ----------
    address : str, optional
        ``None`` joins the cluster that ``RAY_ADDRESS`` names or that ``ray start`` started on
        this machine, else starts a new local one sized to this machine; ``"host:port"`` joins
        that cluster; ``"local"`` always starts a new local one (Ray's own rules). Where this
        process is connected to Ray already, that connection is used (and left open).
    workers : int, optional
        How many encoder actors or scoring workers to start (None: as many as the cluster's
        CPUs, or its GPUs with ``gpus_per_worker``, allow).
    cpus_per_worker : float, default 1.0
        CPUs Ray reserves for each worker; a worker sizes its torch, numba and BLAS thread
        pools to them.
    gpus_per_worker : float, default 0.0
        GPUs Ray reserves for each worker (a fraction packs several on a GPU); with GPUs the
        encoder runs on CUDA.
    runtime_env : dict, optional
        Ray's runtime environment for the workers (for example ``{"py_modules": [...]}`` to
        ship the module of a metric you registered).

    Raises
    ------
    ValueError
        If ``workers`` is not an integer >= 1, ``cpus_per_worker`` is not positive, or
        ``gpus_per_worker`` is negative (checked before anything connects).

    Examples
    --------
    A local cluster (started here, about 10 s, and stopped when the block ends) scores and
    searches with the local results:

    >>> import operator
    >>> import numpy as np
    >>> import ray
    >>> from seqsim import SeqSim
    >>> from seqsim.distributed import RayCluster
    >>> from seqsim.search import SequenceIndex
    >>> rng = np.random.default_rng(0)
    >>> sequences = [rng.standard_normal((n, 8)).astype(np.float32) for n in (3, 5, 4)]
    >>> index = SequenceIndex(candidates=2)
    >>> index.add(sequences)
    >>> with RayCluster(address="local", workers=1) as cluster:
    ...     added = cluster.map(10, operator.add, [1, 2, 3])       # add(10, item) per item
    ...     scores = cluster.metric(SeqSim()).matrix(sequences, sequences)
    ...     _, ids = cluster.index(index).search(sequences, k=2)
    >>> added
    [11, 12, 13]
    >>> np.round(np.diag(scores), 4), bool((scores == SeqSim().matrix(sequences, sequences)).all())
    (array([1., 1., 1.]), True)
    >>> bool((ids == index.search(sequences, k=2)[1]).all()), ray.is_initialized()
    (True, False)

    Options are checked before anything connects:

    >>> RayCluster(workers=0)
    Traceback (most recent call last):
    ...
    ValueError: workers must be an integer >= 1, got 0
    """

    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    runtime_env: dict[str, Any] | None = None
    _started: bool = field(default=False, init=False, repr=False)
    _scoring_workers: list[Any] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.workers is not None:
            check_count("workers", self.workers, 1)
        check_positive("cpus_per_worker", self.cpus_per_worker)
        check_positive("gpus_per_worker", self.gpus_per_worker, zero=True)

    def __enter__(self) -> RayCluster:
        self.connect()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ connection

    def connect(self) -> ModuleType:
        """Join or start the cluster (once); returns the ``ray`` module.

        Returns
        -------
        types.ModuleType
            ``ray``, initialised.

        Raises
        ------
        RayNotInstalledError
            If Ray or Ray Data is not installed.
        RayConnectionError
            If the cluster cannot be joined: nothing answers at its ``host:port`` within
            :data:`CONNECT_TIMEOUT_SECONDS` (:func:`check_reachable`), or Ray refuses (the
            message says what to check: is it running, token authentication).

        Examples
        --------
        See :class:`RayCluster` (used as a context manager, it connects on entry).
        """
        ray = require_ray()
        require_ray("ray.data")
        if not ray.is_initialized():
            check_reachable(self.address)
            try:
                ray.init(
                    address=self.address,
                    runtime_env=self.runtime_env,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.WARNING,
                )
            except (ConnectionError, RuntimeError) as error:  # Ray's AuthenticationError too
                raise RayConnectionError(
                    f"cannot join the Ray cluster at {self.address or 'the default address'}: "
                    f"{str(error).splitlines()[0]}. Is it running (`ray status`)? A cluster "
                    "with token authentication (the default of `ray start`) is joined with "
                    "RAY_AUTH_MODE=token and its token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
                ) from None
            self._started = True
            logger.info("connected to Ray: %s", ray.cluster_resources())
        return ray

    def close(self) -> None:
        """Stop the scoring workers, and disconnect from Ray where :meth:`connect` connected
        (a local cluster it started stops with it).

        A connection that was there before :meth:`connect` is left open. Closing a cluster
        that never connected does nothing.

        Examples
        --------
        >>> from seqsim.distributed import RayCluster
        >>> RayCluster().close()   # never connected: nothing to do

        See :class:`RayCluster` for a cluster closed by its ``with`` block.
        """
        self.stop_scoring_workers()
        if self._started:
            require_ray().shutdown()
            self._started = False

    def worker_count(self) -> int:
        """``workers``, or as many workers as the cluster's resources hold.

        Returns
        -------
        int
            ``workers`` where given (without connecting); else the cluster's CPUs divided by
            ``cpus_per_worker`` (and at most its GPUs divided by ``gpus_per_worker``, where
            that is not 0), connecting first.

        Raises
        ------
        ValueError
            If the cluster's resources do not hold one worker.

        Examples
        --------
        >>> from seqsim.distributed import RayCluster
        >>> RayCluster(workers=3).worker_count()
        3
        """
        if self.workers is not None:
            return self.workers
        resources = self.connect().cluster_resources()
        cpus, gpus = resources.get("CPU", 0.0), resources.get("GPU", 0.0)
        count = math.floor(cpus / self.cpus_per_worker + 1e-9)
        if self.gpus_per_worker:
            count = min(count, math.floor(gpus / self.gpus_per_worker + 1e-9))
        if count < 1:
            raise ValueError(
                f"the Ray cluster has {cpus:g} CPU(s) and {gpus:g} GPU(s): not enough for one "
                f"worker of {self.cpus_per_worker:g} CPU(s) and {self.gpus_per_worker:g} GPU(s)"
            )
        return count

    def resources_per_worker(self) -> dict[str, float]:
        """Ray's ``num_cpus`` and ``num_gpus`` for one worker.

        Returns
        -------
        dict of str to float
            ``{"num_cpus": cpus_per_worker, "num_gpus": gpus_per_worker}``.

        Examples
        --------
        >>> from seqsim.distributed import RayCluster
        >>> RayCluster(cpus_per_worker=2, gpus_per_worker=0.5).resources_per_worker()
        {'num_cpus': 2, 'num_gpus': 0.5}
        """
        return {"num_cpus": self.cpus_per_worker, "num_gpus": self.gpus_per_worker}

    # ------------------------------------------------------------------ what runs here

    def metric(self, metric: Metric) -> ClusterMetric:
        """``metric``, its scores computed by this cluster's workers
        (:class:`~seqsim.distributed.ClusterMetric`).

        Parameters
        ----------
        metric : Metric
            The metric to wrap.

        Returns
        -------
        ClusterMetric
            A metric with ``metric``'s methods and results.

        Examples
        --------
        >>> from seqsim import SeqSim
        >>> from seqsim.distributed import RayCluster
        >>> RayCluster(workers=2).metric(SeqSim()).name
        'seqsim'
        """
        from .scoring import ClusterMetric

        return ClusterMetric(metric, self)

    def index(self, index: SequenceIndex) -> SequenceIndex:
        """A copy of ``index`` that searches on this cluster: the same shortlist and frames,
        its metric wrapped by :meth:`metric`, so that every rerank and exhaustive search is
        scored by the workers (as faiss's ``index_cpu_to_all_gpus`` copies an index).

        Parameters
        ----------
        index : SequenceIndex
            The index (left as it is).

        Returns
        -------
        SequenceIndex
            Its copy, whose :meth:`~seqsim.search.SequenceIndex.search` gives the same results.

        Examples
        --------
        >>> from seqsim.distributed import RayCluster
        >>> from seqsim.search import SequenceIndex
        >>> index = SequenceIndex()
        >>> RayCluster(workers=2).index(index).metric
        ClusterMetric(SeqSim(...), RayCluster(address=None, workers=2, ...))
        """
        placed = copy.copy(index)
        placed.metric = self.metric(index.metric)
        return placed

    def embedding(self) -> RayEmbedding:
        """The embedding runner of this cluster (:class:`~seqsim.distributed.RayEmbedding`),
        for :func:`~seqsim.embedding.embed_corpus` and ``evaluate(..., runner=...)``.

        Returns
        -------
        RayEmbedding
            Encoder actors on this cluster that fill a store.

        Examples
        --------
        See :class:`~seqsim.distributed.RayEmbedding`.
        """
        from .embedding import RayEmbedding

        return RayEmbedding(self)

    # ------------------------------------------------------------------ scoring workers

    def map(
        self,
        shared: Shared,
        function: Callable[[Shared, Item], Result],
        items: Sequence[Item],
        *,
        progress: bool = False,
        desc: str = "chunks",
    ) -> list[Result]:
        """``[function(shared, item) for item in items]``, run by the scoring workers.

        ``shared`` goes into Ray's object store once and each worker reads it once (a worker
        keeps the last one it read), each item goes to one worker. A worker that dies is
        restarted by Ray and its item retried. The scoring workers (``workers`` of them, with
        ``cpus_per_worker`` and ``gpus_per_worker`` each) start on first use and stay until
        :meth:`stop_scoring_workers` or :meth:`close`.

        Parameters
        ----------
        shared : object
            The payload every call reads (picklable).
        function : callable
            ``function(shared, item)``; it must be importable or picklable by value on the
            workers (``runtime_env`` can ship its module).
        items : sequence
            One call per item.
        progress : bool, default False
            Show a progress bar over the items.
        desc : str, default "chunks"
            The progress bar's label.

        Returns
        -------
        list
            The results, in the order of ``items``.

        Raises
        ------
        RayNotInstalledError, RayConnectionError
            As :meth:`connect`.

        Examples
        --------
        See :class:`RayCluster`, whose example maps ``operator.add`` over three items.
        """
        ray = self.connect()
        reference = ray.put(shared)
        pool = ray.util.ActorPool(self._workers())
        numbered = list(enumerate(items))
        results: list[Any] = [None] * len(numbered)
        calls = pool.map_unordered(
            lambda worker, pair: worker.run.remote([reference], function, pair), numbered
        )
        bar = progress_bar(total=len(numbered), desc=desc, unit="chunk", disable=not progress)
        with bar:
            for number, result in calls:
                results[number] = result
                bar.update()
        return results

    def stop_scoring_workers(self) -> None:
        """Stop the scoring workers (started again when needed), freeing what they reserve:
        an embedding pipeline's actors need those CPUs and GPUs.

        Examples
        --------
        >>> from seqsim.distributed import RayCluster
        >>> RayCluster().stop_scoring_workers()   # none started: nothing to do
        """
        if self._scoring_workers:
            ray = require_ray()
            for worker in self._scoring_workers:
                ray.kill(worker)
            self._scoring_workers = []

    def _workers(self) -> list[Any]:
        """The scoring workers, started on first use."""
        if not self._scoring_workers:
            ray = self.connect()
            remote = ray.remote(max_restarts=-1, max_task_retries=-1, **self.resources_per_worker())
            worker_class = remote(ScoringWorker)
            self._scoring_workers = [
                worker_class.remote(self.cpus_per_worker) for _ in range(self.worker_count())
            ]
        return self._scoring_workers


class ScoringWorker:
    """A Ray actor that runs functions on a shared payload it reads once."""

    def __init__(self, cpus: float) -> None:
        use_cpus(cpus)
        self._key: str | None = None
        self._shared: Any = None

    def run(
        self, reference: list[Any], function: Callable[[Any, Any], Any], pair: tuple[int, Any]
    ) -> tuple[int, Any]:
        """``(number, function(shared, item))`` for ``pair = (number, item)``; ``reference``
        is a one-element list so that Ray hands over the reference, not the object."""
        ray = require_ray()
        key = reference[0].hex()
        if key != self._key:
            self._shared, self._key = None, None  # free the previous payload first
            self._shared, self._key = ray.get(reference[0]), key
        number, item = pair
        return number, function(self._shared, item)


@contextmanager
def cluster_session(cluster: RayCluster | None) -> Iterator[RayCluster]:
    """``cluster`` (left open: its owner closes it), or a new :class:`RayCluster` on this
    machine's default cluster that is closed when the block ends."""
    if cluster is not None:
        yield cluster
        return
    with RayCluster() as own:
        yield own
