"""The similarity picture of one pair of utterances (the paper's Figure 3).

:func:`pair_similarity` computes what the picture shows from two frame sequences ``a`` (n
frames) and ``b`` (m frames): the (n, m) matrix of frame cosines (unit frames, as SeqSim
compares them: docs/metrics.md), each frame's best match on the other side, and SeqSim's
precision, recall and F1 (from :meth:`SeqSim.scores`). :func:`plot_pair` draws it on a
matplotlib :class:`~matplotlib.figure.Figure` made without pyplot, so no backend is chosen or
switched; :func:`read_words` reads the optional word boundaries (docs/pair.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._defaults import PICTURE_FORMATS
from .audio import SAMPLE_RATE, SAMPLES_PER_FRAME
from .kernels.numba_kernels import cosine_block, unit_numpy_block
from .metrics import SeqSim
from .sequences import Frames, as_packed

WHISPER_FRAME_SECONDS = SAMPLES_PER_FRAME / SAMPLE_RATE
"""Time between Whisper (and wav2vec2) encoder frames, 0.02 s: a picture's time axis unless
told the encoder's own (:attr:`SpeechEncoder.frame_seconds
<seqsim.encoders.SpeechEncoder.frame_seconds>`)."""
WORDS_HEADER = ("word", "start", "end")
"""The optional header line of a words file, and its columns."""
DURATION_TOLERANCE = 1e-3
"""How much later (seconds) than its audio a word may end, for boundaries rounded to 1 ms."""


@dataclass(frozen=True)
class PairSimilarity:
    """What the picture of a pair shows.

    Attributes
    ----------
    cosines : numpy.ndarray
        (n, m) float32 cosines of the unit frames of ``a`` (rows) and ``b`` (columns).
    best_b_for_a : numpy.ndarray
        (n,) int: for each frame of ``a``, its best frame of ``b`` (argmax of its row).
    best_a_for_b : numpy.ndarray
        (m,) int: for each frame of ``b``, its best frame of ``a`` (argmax of its column).
    precision : float
        SeqSim's precision, ``a`` being the query and ``b`` the candidate: the mean of the
        column maxima.
    recall : float
        SeqSim's recall: the mean of the row maxima.
    f1 : float
        ``2 P R / (P + R)``.

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.pair import pair_similarity
    >>> pair = pair_similarity(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32))
    >>> pair.cosines.shape, pair.best_a_for_b.tolist(), pair.f1
    ((2, 2), [0, 1], 1.0)
    """

    cosines: np.ndarray
    best_b_for_a: np.ndarray
    best_a_for_b: np.ndarray
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class Word:
    """A word and where it is spoken, in seconds from the start of its utterance.

    Parameters
    ----------
    text : str
        The word, as labelled on the picture.
    start, end : float
        Its boundaries in seconds, ``0 <= start < end`` (checked by :func:`read_words` and
        :func:`plot_pair`).

    Examples
    --------
    >>> from seqsim.pair import Word
    >>> Word("chat", 0.14, 0.38).end
    0.38
    """

    text: str
    start: float
    end: float


def pair_similarity(a: Frames, b: Frames) -> PairSimilarity:
    """The frame cosines, best matches and SeqSim scores of one pair of frame sequences.

    Parameters
    ----------
    a, b : numpy.ndarray or torch.Tensor
        (n, d) and (m, d) frames (any float dtype), e.g. ``Embedding.frames``; ``a`` plays the
        query (rows of the matrix), ``b`` the candidate (columns).

    Returns
    -------
    PairSimilarity
        The (n, m) cosines, the argmax of every row and of every column, and SeqSim's
        precision, recall and F1, computed by ``SeqSim(backend="numba").scores`` from the
        same unit frames (so recall is the mean of the row maxima, precision of the column
        maxima).

    Raises
    ------
    ValueError
        Where ``a`` or ``b`` is not a non-empty 2-D float array, holds NaN or infinity, or
        their frame dimensions differ (the message names ``a`` or ``b``).

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.pair import pair_similarity
    >>> a = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    >>> b = np.array([[2.0, 0.0], [0.0, -1.0], [0.0, 3.0]], dtype=np.float32)
    >>> pair = pair_similarity(a, b)
    >>> pair.cosines.tolist()
    [[1.0, 0.0, 0.0], [0.0, -1.0, 1.0]]
    >>> pair.best_b_for_a.tolist(), pair.best_a_for_b.tolist()
    ([0, 2], [0, 0, 1])
    >>> round(pair.recall, 3), round(pair.precision, 3), round(pair.f1, 3)
    (1.0, 0.667, 0.8)
    """
    packed_a = as_packed([a], "a")
    packed_b = as_packed([b], "b")
    if packed_a.dim != packed_b.dim:
        raise ValueError(
            f"a and b must have frames of the same dimension, got {packed_a.dim} and {packed_b.dim}"
        )
    cosines = cosine_block(unit_numpy_block(packed_a), unit_numpy_block(packed_b))
    scores = SeqSim(backend="numba").scores(packed_a, packed_b)
    return PairSimilarity(
        cosines=cosines,
        best_b_for_a=cosines.argmax(axis=1),
        best_a_for_b=cosines.argmax(axis=0),
        precision=float(scores.precision[0, 0]),
        recall=float(scores.recall[0, 0]),
        f1=float(scores.f1[0, 0]),
    )


def _check_word(word: Word, where: str, duration: float | None, what: str) -> None:
    """Raise naming ``where`` unless ``0 <= start < end <= duration`` (within the tolerance)."""
    if not (math.isfinite(word.start) and math.isfinite(word.end)):
        raise ValueError(f"{where}: start and end must be finite numbers of seconds")
    if word.start < 0:
        raise ValueError(f"{where}: word {word.text!r} starts before 0 s ({word.start:g} s)")
    if word.end <= word.start:
        raise ValueError(
            f"{where}: word {word.text!r} must end after it starts "
            f"(start {word.start:g} s, end {word.end:g} s)"
        )
    if duration is not None and word.end > duration + DURATION_TOLERANCE:
        raise ValueError(
            f"{where}: word {word.text!r} ends at {word.end:g} s, after the end of {what} "
            f"({duration:.3f} s)"
        )


def read_words(path: str | Path, duration: float | None = None) -> list[Word]:
    """Word boundaries from a tab-separated file: ``word``, ``start``, ``end`` (seconds).

    The file is UTF-8 (a byte-order mark is accepted); an optional first line ``word start
    end`` (tab-separated) is a header; blank lines are skipped. Every other line is one word:
    exactly three tab-separated fields, ``0 <= start < end``, in time order without overlap
    (gaps are allowed).

    Parameters
    ----------
    path : str or pathlib.Path
        The words file.
    duration : float, optional
        The audio's duration in seconds: a word that ends later (by more than 1 ms) is an error.

    Returns
    -------
    list of Word
        The words in file order.

    Raises
    ------
    ValueError
        Naming ``path:line`` for a row of the wrong shape, a start or end that is not a number,
        a word that is empty, ends before it starts, overlaps the previous one or lies outside
        the audio; naming ``path`` for a missing, unreadable or non-UTF-8 file or one without
        words.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from seqsim.pair import read_words
    >>> folder = tempfile.mkdtemp()
    >>> path = pathlib.Path(folder, "words.tsv")
    >>> _ = path.write_text("word\\tstart\\tend\\nthe\\t0.1\\t0.25\\ncat\\t0.3\\t0.6\\n")
    >>> read_words(path, duration=1.0)
    [Word(text='the', start=0.1, end=0.25), Word(text='cat', start=0.3, end=0.6)]
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ValueError(f"{path}: words file not found") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot read the words file ({error.strerror})") from None
    words: list[Word] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("\t")]
        where = f"{path}:{number}"
        if not words and tuple(field.lower() for field in fields) == WORDS_HEADER:
            continue
        if len(fields) != 3:
            raise ValueError(
                f"{where}: expected 3 tab-separated fields (word, start, end), got {len(fields)}"
            )
        if not fields[0]:
            raise ValueError(f"{where}: the word is empty")
        try:
            word = Word(fields[0], float(fields[1]), float(fields[2]))
        except ValueError:
            raise ValueError(
                f"{where}: start and end must be numbers of seconds, got {fields[1]!r} and "
                f"{fields[2]!r}"
            ) from None
        _check_word(word, where, duration, "the audio")
        if words and word.start < words[-1].end:
            raise ValueError(
                f"{where}: word {word.text!r} starts at {word.start:g} s, before the previous "
                f"word {words[-1].text!r} ends ({words[-1].end:g} s)"
            )
        words.append(word)
    if not words:
        raise ValueError(f"{path}: no words (expected lines of word, start, end)")
    return words


def picture_format(path: str | Path) -> str:
    """The picture format that ``path``'s suffix asks for.

    Parameters
    ----------
    path : str or pathlib.Path
        Where the picture goes.

    Returns
    -------
    str
        ``"png"``, ``"svg"`` or ``"pdf"``.

    Raises
    ------
    ValueError
        For another suffix, naming the file.

    Examples
    --------
    >>> from seqsim.pair import picture_format
    >>> picture_format("pair.SVG")
    'svg'
    """
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in PICTURE_FORMATS:
        raise ValueError(
            f"{path}: the picture's file name must end in "
            f"{', '.join('.' + name for name in PICTURE_FORMATS)}"
        )
    return suffix


def _draw_words(axes: Axes, words: Sequence[Word], along: Literal["x", "y"], span: float) -> None:
    """Grid lines at the words' boundaries across the image, the words as labels of the top
    (``along="x"``) or right (``along="y"``) axis."""
    edges = sorted({time for word in words for time in (word.start, word.end)})
    centres = [(word.start + word.end) / 2 for word in words]
    texts = [word.text for word in words]
    if along == "x":
        axes.vlines(edges, 0.0, span, colors="white", linewidths=0.6, alpha=0.7)
        top = axes.secondary_xaxis("top")
        top.set_xticks(centres, texts, rotation=60, ha="left", fontsize=8)
        top.tick_params(length=0)
    else:
        axes.hlines(edges, 0.0, span, colors="white", linewidths=0.6, alpha=0.7)
        right = axes.secondary_yaxis("right")
        right.set_yticks(centres, texts, fontsize=8)
        right.tick_params(length=0)


def plot_pair(
    pair: PairSimilarity,
    *,
    label_a: str = "A",
    label_b: str = "B",
    words_a: Sequence[Word] = (),
    words_b: Sequence[Word] = (),
    title: str | None = None,
    frame_seconds: float = WHISPER_FRAME_SECONDS,
) -> Figure:
    """Draw a pair's cosine matrix with its best matches, SeqSim scores and words.

    ``a``'s time runs up the vertical axis, ``b``'s along the horizontal one, both in seconds
    (frame ``i`` fills ``[s i, s (i + 1))`` for ``s = frame_seconds``). Each frame of ``a``'s
    best match in ``b`` is a white circle, each frame of ``b``'s best match in ``a`` a red
    cross. Words are drawn
    as grid lines at their boundaries, labelled on the top (``b``) and right (``a``) axes.

    Parameters
    ----------
    pair : PairSimilarity
        From :func:`pair_similarity`.
    label_a, label_b : str
        Names of the two utterances (file, language) for the axis labels.
    words_a, words_b : sequence of Word
        Word boundaries (:func:`read_words`), each within its utterance's frames.
    title : str, optional
        A first title line (e.g. the model and layer) above the SeqSim scores.
    frame_seconds : float, default 0.02
        Seconds per frame of the encoder that made the frames (its ``frame_seconds``).

    Returns
    -------
    matplotlib.figure.Figure
        The picture: the matrix axes and a colour bar; save it with ``figure.savefig(path)``.

    Raises
    ------
    ValueError
        Where a word lies outside its utterance's frames (naming the word).

    Examples
    --------
    >>> import numpy as np
    >>> from seqsim.pair import Word, pair_similarity, plot_pair
    >>> pair = pair_similarity(np.eye(2, dtype=np.float32), np.eye(3, 2, dtype=np.float32))
    >>> figure = plot_pair(pair, words_b=[Word("hi", 0.0, 0.04)])
    >>> figure.axes[0].get_xlim()
    (0.0, 0.06)
    >>> figure.axes[1].get_ylabel()
    'frame cosine'
    """
    rows, columns = pair.cosines.shape
    height, width = rows * frame_seconds, columns * frame_seconds
    for words, duration, name in ((words_a, height, label_a), (words_b, width, label_b)):
        for index, word in enumerate(words):
            _check_word(word, f"{name} word {index}", duration, "its frames")
    figure = Figure(figsize=(8.0, 7.0), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(
        pair.cosines,
        origin="lower",
        extent=(0.0, width, 0.0, height),
        aspect="auto",
        interpolation="nearest",
        cmap="viridis",
    )
    figure.colorbar(image, ax=axes, label="frame cosine", pad=0.02)
    centre_a = (np.arange(rows) + 0.5) * frame_seconds
    centre_b = (np.arange(columns) + 0.5) * frame_seconds
    axes.plot(
        centre_b[pair.best_b_for_a],
        centre_a,
        "o",
        markersize=3.5,
        markerfacecolor="none",
        markeredgecolor="white",
        markeredgewidth=0.9,
        label=f"best {label_b} frame for each {label_a} frame (recall)",
    )
    axes.plot(
        centre_b,
        centre_a[pair.best_a_for_b],
        "x",
        markersize=3.5,
        color="tab:red",
        markeredgewidth=1.0,
        label=f"best {label_a} frame for each {label_b} frame (precision)",
    )
    axes.set_xlim(0.0, width)
    axes.set_ylim(0.0, height)
    axes.set_xlabel(f"{label_b}: time (s)")
    axes.set_ylabel(f"{label_a}: time (s)")
    scores = f"SeqSim  P = {pair.precision:.3f}   R = {pair.recall:.3f}   F1 = {pair.f1:.3f}"
    axes.set_title(scores if title is None else f"{title}\n{scores}", fontsize=11)
    axes.legend(  # dark, so that the white circles show
        loc="upper center",
        bbox_to_anchor=(0.5, -0.08),
        fontsize=8,
        facecolor="0.3",
        labelcolor="white",
        framealpha=1.0,
    )
    if words_b:
        _draw_words(axes, words_b, "x", height)
    if words_a:
        _draw_words(axes, words_a, "y", width)
    return figure
