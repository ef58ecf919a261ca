"""Every built-in metric as a plain function ``f(queries, candidates, **options) -> (Q, R)``:
``dtw_matrix(q, c, window=5)`` is ``DTWSim(window=5).matrix(q, c)``, with the class's options
(see :func:`seqsim.metrics.base.metric_function`)."""

from .metrics.avgsim import avgsim_matrix
from .metrics.dtw import dtw_matrix
from .metrics.ot import ot_matrix
from .metrics.seqsim import seqsim_matrix, seqsim_scores

__all__ = ["avgsim_matrix", "dtw_matrix", "ot_matrix", "seqsim_matrix", "seqsim_scores"]
