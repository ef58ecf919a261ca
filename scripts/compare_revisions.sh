#!/usr/bin/env bash
# Bit-identity across a refactor: the same store scored by another revision of seqsim and by this
# working tree must give byte-identical results (the R@1 matrix and every rank, the index file, its
# search hits, exhaustive and shortlisted, and an index-search evaluation).
#
#   bash scripts/compare_revisions.sh REV STORE [LAYER] [ray]
#
# REV is any git revision (it is checked out in a temporary worktree and run from its source with
# this environment's packages); STORE an embedding store (e.g. OUT/store of `seqsim demo`). With
# `ray`, the evaluation and the search run on a local Ray cluster of two workers too, and their
# outputs must equal the other revision's (a few minutes more). Exits 1 naming the first file
# that differs.
set -euo pipefail
rev="$1"; store="$(realpath "$2")"; layer="${3:-6}"; ray="${4:-}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'git -C "$root" worktree remove --force "$work/old-tree" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach --quiet "$work/old-tree" "$rev"

run() {  # run NAME SOURCE: every output of one revision into $work/NAME
  local out="$work/$1"; mkdir -p "$out"
  local seqsim=(env PYTHONPATH="$2" python -c "from seqsim.cli import main; main()")
  "${seqsim[@]}" evaluate --store "$store" --layer "$layer" --out "$out/evaluate" >/dev/null
  "${seqsim[@]}" index build --store "$store" --layer "$layer" --centroids 64 --candidates 20 \
    --out "$out/store.index" >/dev/null
  "${seqsim[@]}" search "$out/store.index" --store "$store" --k 10 --out "$out/hits.tsv" >/dev/null
  "${seqsim[@]}" search "$out/store.index" --store "$store" --k 10 --exhaustive \
    --out "$out/exhaustive.tsv" >/dev/null
  "${seqsim[@]}" evaluate --store "$store" --layer "$layer" --search index --candidates 20 \
    --out "$out/index-evaluate" >/dev/null
  if [ "$ray" = ray ]; then
    "${seqsim[@]}" evaluate --store "$store" --layer "$layer" --ray --workers 2 \
      --out "$out/ray-evaluate" >/dev/null
    "${seqsim[@]}" search "$out/store.index" --store "$store" --k 10 --ray --workers 2 \
      --out "$out/ray-hits.tsv" >/dev/null
  fi
}
run old "$work/old-tree/src"
run new "$root/src"

python - "$work/old" "$work/new" "$ray" <<'PY'
import filecmp, json, sys
from pathlib import Path

import pandas as pd

old, new = map(Path, sys.argv[1:3])
on_ray = sys.argv[3] == "ray"
for name in ["store.index", "hits.tsv", "exhaustive.tsv", *(["ray-hits.tsv"] if on_ray else [])]:
    assert filecmp.cmp(old / name, new / name, shallow=False), f"{name} differs"
for run in ["evaluate", "index-evaluate", *(["ray-evaluate"] if on_ray else [])]:
    assert filecmp.cmp(old / run / "r_at_1.csv", new / run / "r_at_1.csv", shallow=False), f"{run}/r_at_1.csv differs"
    before, after = (json.loads((side / run / "results.json").read_text()) for side in (old, new))
    for key in ("pairs", "mean", "settings_hash"):
        assert before[key] == after[key], f"{run}/results.json: {key} differs"
    ranks = pd.read_csv(old / run / "ranks.csv")  # columns added later may follow
    assert ranks.equals(pd.read_csv(new / run / "ranks.csv")[ranks.columns]), f"{run}/ranks.csv differs"
print("bit-identical: R@1 matrices, ranks, results, the index file, its hits (shortlisted and "
      "exhaustive)" + (", and on Ray the evaluation and the hits" if on_ray else ""))
PY
