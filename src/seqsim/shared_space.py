"""The shared space as a picture (the study's Figure 2): one mean frame per utterance of an
embedding store, laid out in two dimensions by t-SNE or PCA, coloured by language and
labelled by sentence.

:func:`shared_space_map` computes the points from any encoder's frames, as every encoder
stores them (:class:`~seqsim.store.EmbeddingStore`); :func:`plot_shared_space` draws them on
a matplotlib :class:`~matplotlib.figure.Figure` made without pyplot, so no backend is chosen
or switched.

An utterance's point is AvgSim's vector (:class:`~seqsim.metrics.AvgSim`): the mean of its
frames as stored, not scaled to unit norm first, then scaled to unit norm. Distances between
those vectors follow AvgSim's cosine, so the map shows the geometry that AvgSim's R@1 ranks
by. (On the demo store, frames scaled first give nearly the same nearest neighbours:
docs/evaluation.md.)

The module is light to import (the command line reads :data:`MAP_METHODS` from it for its
help): the store, the kernels, scikit-learn and matplotlib are loaded when they are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from ._defaults import DEFAULT_LAYER, DEFAULT_SEED
from .checks import check_choice, check_count, option
from .corpus import Corpus, Utterance

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .sequences import PackedSequences
    from .store import EmbeddingStore

METHOD_NAMES: Final = {"tsne": "t-SNE", "pca": "PCA"}
"""The ways to lay the mean frames out in two dimensions, and what the picture calls each."""
MAP_METHODS = tuple(METHOD_NAMES)
"""The ``method`` choices of :func:`shared_space_map` (and ``seqsim map --method``)."""
DEFAULT_MAP_METHOD: Final = "tsne"
"""The layout unless told otherwise: t-SNE, as the study's Figure 2 draws it."""
MIN_UTTERANCES = 3
"""The fewest utterances a map is made of."""
PERPLEXITY = 30.0
"""t-SNE's perplexity (scikit-learn's default). A map of fewer than 91 utterances gets a third
of one less than their number, the bound of the reference implementation (bhtsne: 3 ×
perplexity ≤ N − 1): near N − 1 every utterance weighs alike as a neighbour, and clusters
are lost."""


class SharedSpaceError(ValueError):
    """A selection of utterances that cannot be mapped; the message names the store and what
    is wrong.

    Also a ``ValueError``; the command line prints it as a one-line error.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim.shared_space import shared_space_map
    >>> from seqsim.store import EmbeddingStore
    >>> settings = {"model": "toy", "layers": [6], "dtype": "float32", "hidden_states": 7}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with EmbeddingStore(folder).writer(settings) as writer:
    ...         writer.add("en/s1", {6: np.ones((2, 4))})
    ...     shared_space_map(folder)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    seqsim.shared_space.SharedSpaceError: 1 utterance(s) of /... selected; a map needs at least 3
    """


@dataclass(frozen=True, eq=False)
class SharedSpaceMap:
    """One point per utterance: where its mean frame lies in the two-dimensional layout.

    Attributes
    ----------
    points : numpy.ndarray
        (N, 2) float64, read-only: the utterances' positions, in the order of ``keys``.
    keys : tuple of str
        The utterances' store keys (``lang/id``).
    languages : tuple of str
        Each utterance's language.
    sentences : tuple of str
        Each utterance's sentence (its id, unless a corpus said otherwise).
    method : str
        The layout, one of :data:`MAP_METHODS`.
    model : str
        The model whose frames were mapped, as the store names it.
    layer : int
        The encoder layer (hidden-state index, not negative).

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.shared_space import SharedSpaceMap
    >>> space = SharedSpaceMap(np.zeros((1, 2)), ("en/s1",), ("en",), ("s1",), "pca", "toy", 6)
    >>> space.languages, space.points.flags.writeable
    (('en',), False)
    """

    points: np.ndarray
    keys: tuple[str, ...]
    languages: tuple[str, ...]
    sentences: tuple[str, ...]
    method: str
    model: str
    layer: int

    def __post_init__(self) -> None:
        self.points.setflags(write=False)


def shared_space_map(
    store: str | Path | EmbeddingStore,
    layer: int | None = None,
    utterances: Corpus | Sequence[str] | None = None,
    *,
    method: str = DEFAULT_MAP_METHOD,
    seed: int = DEFAULT_SEED,
) -> SharedSpaceMap:
    """Lay out one mean frame per utterance of a store in two dimensions.

    Parameters
    ----------
    store : str, pathlib.Path or EmbeddingStore
        The embedding store (of any encoder).
    layer : int, optional
        A hidden-state index the store holds (negative counts from the last); by default the
        store's only layer.
    utterances : Corpus or sequence of str, optional
        What to draw: a corpus (its utterances, labelled by their sentences) or store keys
        ``lang/id`` (labelled by their ids); by default every stored utterance.
    method : {"tsne", "pca"}, default "tsne"
        scikit-learn's ``TSNE`` (perplexity :data:`PERPLEXITY`, lowered for few utterances)
        or ``PCA`` (linear, faster).
    seed : int, default 0
        The random state of t-SNE (and of PCA's solver): the same seed, the same map.

    Returns
    -------
    SharedSpaceMap
        The points with their keys, languages and sentences.

    Raises
    ------
    ValueError
        For a ``method`` not in :data:`MAP_METHODS` or a negative ``seed``.
    SharedSpaceError
        For fewer than :data:`MIN_UTTERANCES` utterances, utterances the store lacks (naming
        some), frames of fewer than two dimensions, or no ``layer`` given for a store of
        several layers.
    StoreMismatchError
        When the store does not hold ``layer``.
    StoreError
        When there is no store, or it holds no embeddings yet (and as
        :meth:`EmbeddingStore.load <seqsim.store.EmbeddingStore.load>` raises it).
    CorpusError
        For a key not of the form ``lang/id``.

    Examples
    --------
    Three sentences in two languages, the frames of a sentence pointing one way in both:

    >>> import tempfile
    >>> import numpy as np
    >>> from seqsim.shared_space import shared_space_map
    >>> from seqsim.store import EmbeddingStore
    >>> settings = {"model": "toy", "layers": [6], "dtype": "float32", "hidden_states": 7}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with EmbeddingStore(folder).writer(settings) as writer:
    ...         for lang, tilt in (("en", 0.1), ("fr", -0.1)):
    ...             for sentence, axis in (("s1", 0), ("s2", 1), ("s3", 2)):
    ...                 frames = np.full((2, 3), tilt)
    ...                 frames[:, axis] = 1.0
    ...                 writer.add(f"{lang}/{sentence}", {6: frames})
    ...     space = shared_space_map(folder, method="pca")
    >>> space.points.shape, space.sentences, space.layer
    ((6, 2), ('s1', 's2', 's3', 's1', 's2', 's3'), 6)
    >>> gap = np.linalg.norm(space.points[0] - space.points[3])  # en/s1 and fr/s1
    >>> bool(gap < np.linalg.norm(space.points[0] - space.points[1]))  # closer than en/s2
    True
    """
    from .store import EmbeddingStore

    check_choice("method", method, MAP_METHODS)
    check_count("seed", seed, 0)
    store = store if isinstance(store, EmbeddingStore) else EmbeddingStore(store)
    layer = _layer_of(store, layer)
    keys, frames = store.load(layer)
    settings = store.settings or {}  # there are some: the store was loaded
    chosen = _chosen_utterances(utterances, keys)
    if len(chosen) < MIN_UTTERANCES:
        raise SharedSpaceError(
            f"{len(chosen)} utterance(s) of {store.path} selected; a map needs at least "
            f"{MIN_UTTERANCES}"
        )
    if frames.dim < 2:
        raise SharedSpaceError(
            f"{store.path} holds frames of dimension {frames.dim}; a 2-D map needs at least 2"
        )
    means = _mean_frames(frames.select(_rows_of(store, keys, chosen)))
    return SharedSpaceMap(
        points=_layout(means, method, seed),
        keys=tuple(u.key for u in chosen),
        languages=tuple(u.lang for u in chosen),
        sentences=tuple(u.sentence for u in chosen),
        method=method,
        model=str(settings["model"]),
        layer=layer % settings["hidden_states"],
    )


def _layer_of(store: EmbeddingStore, layer: int | None) -> int:
    """``layer``, or where it is None the store's only layer (for a store that is missing or
    empty, the default layer: loading it names what is wrong with the store)."""
    if layer is not None:
        return layer
    layers = (store.settings or {}).get("layers", [])
    if len(layers) > 1:
        raise SharedSpaceError(
            f"{store.path} holds layers {layers}: choose one with {option('layer')}"
        )
    return layers[0] if layers else DEFAULT_LAYER


def _chosen_utterances(
    utterances: Corpus | Sequence[str] | None, stored: Sequence[str]
) -> list[Utterance]:
    """The utterances to draw: a corpus's, those named by keys (each once), or every stored
    one."""
    if isinstance(utterances, Corpus):
        return list(utterances.utterances)
    keys = stored if utterances is None else dict.fromkeys(utterances)
    return [Utterance.from_key(key) for key in keys]


def _rows_of(store: EmbeddingStore, keys: Sequence[str], chosen: Sequence[Utterance]) -> np.ndarray:
    """The store's rows of ``chosen``, in their order; the store must hold all of them."""
    position = {key: row for row, key in enumerate(keys)}
    absent = [u.key for u in chosen if u.key not in position]
    if absent:
        raise SharedSpaceError(
            f"{store.path} has no frames for {len(absent)} of the {len(chosen)} utterances "
            f"selected, e.g. {absent[:3]}; embed them first (their audio may have failed: see "
            "the store's failures.jsonl)"
        )
    return np.array([position[u.key] for u in chosen], dtype=np.int64)


def _mean_frames(frames: PackedSequences) -> np.ndarray:
    """AvgSim's vector of every sequence: the mean of its frames, scaled to unit norm."""
    from .kernels.numba_kernels import unit_mean_numpy_block

    return np.asarray(unit_mean_numpy_block(frames).frames)


def _layout(means: np.ndarray, method: str, seed: int) -> np.ndarray:
    """(N, 2) positions of the N mean frames by ``method``."""
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(means)
    from sklearn.manifold import TSNE

    perplexity = min(PERPLEXITY, (len(means) - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, random_state=seed).fit_transform(means)


def plot_shared_space(space: SharedSpaceMap, *, title: str | None = None) -> Figure:
    """Draw a map: one colour per language (with a legend), each point labelled by its
    sentence.

    Parameters
    ----------
    space : SharedSpaceMap
        From :func:`shared_space_map`.
    title : str, optional
        The title; by default the model, the layer and the layout.

    Returns
    -------
    matplotlib.figure.Figure
        The picture (one axes, the legend beside it); save it with ``figure.savefig(path)``.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.shared_space import SharedSpaceMap, plot_shared_space
    >>> space = SharedSpaceMap(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
    ...                        ("en/s1", "fr/s1", "fr/s2"), ("en", "fr", "fr"),
    ...                        ("s1", "s1", "s2"), "pca", "toy", 6)
    >>> figure = plot_shared_space(space)
    >>> [text.get_text() for text in figure.axes[0].texts]
    ['s1', 's1', 's2']
    >>> [text.get_text() for text in figure.legends[0].get_texts()]
    ['en', 'fr']
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    languages = sorted(set(space.languages))
    palette = colormaps["tab10" if len(languages) <= 10 else "tab20"]
    colour = {lang: palette(index % palette.N) for index, lang in enumerate(languages)}
    figure = Figure(figsize=(9.0, 7.0), layout="constrained")
    axes = figure.add_subplot()
    in_language = np.array(space.languages)
    for lang in languages:
        x, y = space.points[in_language == lang].T
        axes.scatter(x, y, s=16, color=colour[lang], label=lang)
    for (x, y), lang, sentence in zip(space.points, space.languages, space.sentences, strict=True):
        axes.annotate(
            sentence,
            (x, y),
            xytext=(2, 2),
            textcoords="offset points",
            fontsize=6,
            color=colour[lang],
        )
    name = METHOD_NAMES[space.method]
    axes.set_xlabel(f"{name} 1")
    axes.set_ylabel(f"{name} 2")
    axes.set_title(title or f"{space.model}, layer {space.layer}: mean frame per utterance, {name}")
    figure.legend(title="language", loc="outside right upper")
    return figure
