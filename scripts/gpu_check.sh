#!/usr/bin/env bash
# The GPU check in one command (seqsim issue 21); docs/performance.md, "On a GPU".
#
#   bash scripts/gpu_check.sh [--dry-run] [--budget SECONDS] [--out DIR]
#
# Installs the wheels carried in .whl/ (scripts/device_wheels.sh downloads them) into a
# temporary folder, then runs `python -m gpu_check` from scripts/: every part in its own
# process under its own budget, the report (gpu_check.md, gpu_check.json, gpu_check.log)
# rewritten in DIR (default $OUT) after each part. --dry-run checks the plan on any machine.
# Everything ends by itself: the wheels within INSTALL_SECONDS, the parts within the budget
# (gpu_check/plan.py's DEFAULT_BUDGET), and a last limit kills whatever is left a minute later.
set -uo pipefail

repository="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
dry_run=""
budget=""
out="${OUT:-}"

usage() {
    echo "usage: bash scripts/gpu_check.sh [--dry-run] [--budget SECONDS] [--out DIR]" >&2
    exit 2
}

while (($#)); do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --budget) (($# >= 2)) || usage; budget="$2"; shift ;;
        --out) (($# >= 2)) || usage; out="$2"; shift ;;
        *) echo "gpu_check.sh: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done
if [[ -n "$budget" && ! "$budget" =~ ^[0-9]+$ ]]; then
    echo "gpu_check.sh: --budget takes whole seconds, got '$budget'" >&2
    exit 2
fi
if [[ -z "$dry_run" && -z "$out" ]]; then
    echo "gpu_check.sh: give --out DIR (no \$OUT is set)" >&2
    exit 2
fi

cd "$repository" || exit 2
# the limits, from the one place that sets them
read -r default_budget install_seconds < <(PYTHONPATH=scripts "$python" -c \
    'from gpu_check.plan import DEFAULT_BUDGET, INSTALL_SECONDS; print(round(DEFAULT_BUDGET), INSTALL_SECONDS)')
if [[ -z "${install_seconds:-}" ]]; then
    echo "gpu_check.sh: $python cannot import scripts/gpu_check/plan.py" >&2
    exit 2
fi
site=""
shopt -s nullglob
wheels=(.whl/*.whl)
if [[ -z "$dry_run" && ${#wheels[@]} -gt 0 ]]; then
    site="$(mktemp -d /tmp/gpu_check_site.XXXXXX)"
    mkdir -p "$out"
    if timeout "$install_seconds" "$python" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target "$site" "${wheels[@]}" >>"$out/gpu_check.log" 2>&1; then
        echo "gpu_check.sh: installed ${#wheels[@]} wheels from .whl into $site"
    else
        echo "gpu_check.sh: installing .whl/*.whl failed or took over ${install_seconds} s" \
            "(see gpu_check.log); the parts that need them will say so" >&2
    fi
fi

export PYTHONPATH="$repository/src:$repository/scripts:$repository/benchmarks${site:+:$site}${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
arguments=()
[[ -n "$dry_run" ]] && arguments+=(--dry-run)
[[ -n "$budget" ]] && arguments+=(--budget "$budget")
[[ -n "$out" ]] && arguments+=(--out "$out")
# the last limit: the parts' budget and a minute for the rest
limit=$((${budget:-$default_budget} + 60))
timeout --kill-after=10 "$limit" "$python" -m gpu_check "${arguments[@]}"
status=$?
if ((status == 124 || status == 137)); then
    echo "gpu_check.sh: stopped at the last limit of $limit s; the report holds the parts done" >&2
fi
exit "$status"
