#!/usr/bin/env bash
# Download the wheels the device machine lacks into .whl/ (ignored by git), for
#   bash scripts/gpu_check.sh   run there with `.whl` carried (docs/performance.md, "On a GPU").
#
# The device image (Python 3.12, manylinux x86_64) has torch, triton, numpy, scipy, numba,
# transformers, pytest, hypothesis, packaging and typing-extensions, but not:
#   POT         seqsim.metrics.ot imports it: `import seqsim` needs it
#   faiss-cpu   seqsim.search (the index's shortlist)
#   soundfile   seqsim.audio and tests/helpers.py; it needs cffi, which needs pycparser
#   soxr        seqsim.audio (resampling)
#   fastdtw     tests/references.py (the metric tester's fastdtw cases); no wheel on PyPI,
#               so a pure-Python wheel is built from its sdist
# Each is pinned to the version this project's CI tests (pyproject.toml's lower bounds hold)
# and downloaded with --no-deps, its dependencies named here too. The total must stay under
# the 64 MiB that the device call carries, working tree included.
set -euo pipefail

LIMIT_MIB=64
BINARY=(POT==0.9.7.post1 faiss-cpu==1.15.1 soundfile==0.14.0 soxr==1.1.0 cffi==2.1.1 pycparser==3.12)
PURE_FROM_SOURCE=(fastdtw==0.3.4)
python="${PYTHON:-python3}"
repository="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repository"

rm -rf .whl
mkdir -p .whl
platforms=()
for platform in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
    manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$platform")
done
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d .whl "${BINARY[@]}"
# built without numpy (pip's isolated build), fastdtw's setup falls back to pure Python
"$python" -m pip wheel -q --no-deps --no-cache-dir -w .whl "${PURE_FROM_SOURCE[@]}"
for wheel in .whl/fastdtw-*.whl; do
    if [[ "$wheel" != *-py3-none-any.whl ]]; then
        echo "device_wheels.sh: $wheel is not pure Python; it would not run on the device" >&2
        exit 1
    fi
done

wheels_bytes=$(du -cb .whl/*.whl | tail -n 1 | cut -f 1)
# what travels besides: tracked and untracked, not ignored files (a file deleted but still
# tracked is skipped)
tree_bytes=$( (git ls-files -z --cached --others --exclude-standard |
    du -cb --files0-from=- 2>/dev/null || true) | tail -n 1 | cut -f 1)
total=$((wheels_bytes + tree_bytes))
limit=$((LIMIT_MIB * 1024 * 1024))
ls -l .whl
printf 'device_wheels.sh: %d wheels, %.1f MiB; with the working tree (%.1f MiB) %.1f of %d MiB\n' \
    "$(find .whl -name "*.whl" | wc -l)" "$(echo "$wheels_bytes / 1048576" | bc -l)" \
    "$(echo "$tree_bytes / 1048576" | bc -l)" "$(echo "$total / 1048576" | bc -l)" "$LIMIT_MIB"
if ((total > limit)); then
    echo "device_wheels.sh: .whl and the working tree are over the device call's $LIMIT_MIB MiB;" \
        "drop a wheel or an older, smaller version" >&2
    exit 1
fi
