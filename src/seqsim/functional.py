"""Every built-in metric as a plain function ``f(queries, candidates, **options) -> (Q, R)``:
``dtw_matrix(q, c, window=5)`` is ``DTWSim(window=5).matrix(q, c)``, with the class's options
(see :func:`seqsim.metrics.base.metric_function`).

The options are documented once, by the classes: :class:`~seqsim.metrics.SeqSim`
(``seqsim_matrix``, and ``seqsim_scores`` for its :meth:`~seqsim.metrics.SeqSim.scores`),
:class:`~seqsim.metrics.AvgSim` (``avgsim_matrix``), :class:`~seqsim.metrics.DTWSim`
(``dtw_matrix``) and :class:`~seqsim.metrics.OTSim` (``ot_matrix``).

Examples
--------
>>> import numpy as np
>>> from seqsim.functional import dtw_matrix
>>> x = np.array([[1.0, 0.0], [0.0, 1.0]])
>>> dtw_matrix([x], [x, x[:1]], normalization="none", backend="numba")
array([[-0., -1.]])
"""

from .metrics.avgsim import avgsim_matrix
from .metrics.dtw import dtw_matrix
from .metrics.ot import ot_matrix
from .metrics.seqsim import seqsim_matrix, seqsim_scores

__all__ = ["avgsim_matrix", "dtw_matrix", "ot_matrix", "seqsim_matrix", "seqsim_scores"]
