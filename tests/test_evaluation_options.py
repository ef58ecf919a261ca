"""The evaluator's options are checked once, where they are made, before any embedding: a bad
one never reaches a model (the model named here does not exist, and is never looked for)."""

from __future__ import annotations

import pytest

from seqsim.corpus import demo_corpus
from seqsim.evaluation import evaluate
from seqsim.evaluation_options import ScoringOptions, SearchOptions


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ScoringOptions(k=0), "k (neighbours for csls / margin) must be an integer >= 1"),
        (lambda: ScoringOptions("csls", k=-3), "must be an integer >= 1, got -3"),
        (lambda: ScoringOptions(bootstrap=-5), "bootstrap (samples; 0 for none) must be an"),
        (lambda: ScoringOptions("zscore"), "normalization must be one of 'none', 'csls', 'margin'"),
        (lambda: ScoringOptions(seed=-1), "seed must be an integer >= 0, got -1"),
        (lambda: ScoringOptions(center="yes"), "center must be True or False"),
        (lambda: SearchOptions("faiss"), "mode must be one of 'exhaustive', 'index'; got 'faiss'"),
        (lambda: SearchOptions("index", candidates=0), "candidates must be an integer >= 1"),
        (lambda: SearchOptions(agreement_sample=0), "agreement_sample must be an integer >= 1"),
    ],
)
def test_a_bad_option_fails_where_it_is_made(make, message):
    with pytest.raises(ValueError) as caught:
        make()
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "scoring", [ScoringOptions("csls"), ScoringOptions(center=True), ScoringOptions(bootstrap=10)]
)
def test_an_index_search_refuses_what_needs_full_matrices_before_embedding(tmp_path, scoring):
    with pytest.raises(ValueError, match="ranks by exact scores of a shortlist"):
        evaluate(
            demo_corpus(["en", "fr"], 2),
            model="no-such-model",
            store=tmp_path / "s",
            scoring=scoring,
            search=SearchOptions("index"),
        )
    assert not (tmp_path / "s").exists()


def test_the_old_flat_keywords_say_where_they_went():
    with pytest.raises(TypeError, match=r"scoring=ScoringOptions\(normalization=\.\.\.\)"):
        evaluate(None, normalization="csls")
    with pytest.raises(TypeError, match=r"search=SearchOptions\(candidates=\.\.\.\)"):
        evaluate(None, candidates=5)
    with pytest.raises(TypeError, match=r"give search=SearchOptions\('index', \.\.\.\)"):
        evaluate(None, search="index")


def test_the_options_are_recorded_as_given(tmp_path):
    import numpy as np

    from seqsim.evaluation import evaluate_embeddings
    from seqsim.sequences import PackedSequences

    frames = PackedSequences.from_lengths(np.eye(6, dtype=np.float32), [2, 2, 2])
    ids = ["s1", "s2", "s3"]
    result = evaluate_embeddings(
        {"en": (ids, frames), "fr": (ids, frames)},
        scoring=ScoringOptions("margin", k=2, bootstrap=5, seed=3),
    )
    recorded = {name: result.settings[name] for name in ("normalization", "k", "bootstrap", "seed")}
    assert recorded == {"normalization": "margin", "k": 2, "bootstrap": 5, "seed": 3}
    assert result.settings["search"] == "exhaustive" and result.settings["candidates"] is None
