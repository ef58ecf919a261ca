"""The choices and defaults of :func:`seqsim.mine`, declared once here for the library and
``seqsim mine`` (a module that imports nothing, so that the command's help loads nothing)."""

DIRECTIONS = ("union", "intersection", "forward", "backward")
"""Which pairs a run keeps: those of either direction, of both, each source's best targets
(forward), each target's best sources (backward). The first is the default."""
DEFAULT_DIRECTION = DIRECTIONS[0]

DEFAULT_MARGIN = "ratio"
"""LASER's and stopes' margin (the choices: :data:`seqsim.ranking.MARGINS`)."""

DEFAULT_MINING_NEIGHBOURS = 4
"""Neighbours averaged in the margins unless told otherwise: LASER's 4 (stopes uses 16)."""

DEFAULT_KEEP = 1
"""Pairs each utterance keeps in its own direction unless told otherwise: its best one."""

SEARCHES = ("auto", "exhaustive", "index")
"""How the neighbours are found: exhaustive scoring below ``exhaustive_below`` pairs and the
search index above (auto), or always one of them."""
DEFAULT_MINING_SEARCH = SEARCHES[0]

DEFAULT_EXHAUSTIVE_BELOW = 500_000
"""``search="auto"`` scores every pair below this many (sources x targets), and searches an
index above: on 2 CPU cores exhaustive SeqSim scores about 8,600 pairs/s and the index answers
about 25 queries/s each way (docs/searching.md), so they cost the same near 700 x 700."""
