"""Recipes for public corpora, one per corpus (as lhotse has them): each reads the corpus as it
is distributed into a :class:`~seqsim.corpus.Corpus`, which :func:`write_manifest` writes for
``seqsim embed`` and ``seqsim evaluate --manifest``. On the command line: ``seqsim prepare
fleurs|mass``. docs/corpora.md describes the layouts and the evaluation protocols."""

from ..corpus import write_manifest
from .fleurs import prepare_fleurs
from .mass import prepare_mass

__all__ = ["prepare_fleurs", "prepare_mass", "write_manifest"]
