"""What it costs a store to know its audio (:mod:`seqsim.provenance`): checking that the
files behind stored keys are unchanged, as every embed run does before it resumes, against
reading and hashing every file again (the naive check, the baseline) and against decoding
every file (what embedding reads anyway). 1,000 WAV files of 3 s (96 KB each).
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
from harness import measure

from seqsim.audio import load
from seqsim.provenance import identify

FILES = 1_000
SECONDS = 3.0


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(0)
    paths = []
    for number in range(FILES):
        path = folder / f"{number:05d}.wav"
        soundfile.write(path, rng.normal(0, 0.1, int(SECONDS * 16_000)), 16_000, subtype="PCM_16")
        paths.append(path)
    return paths, [identify(path) for path in paths]


def test_unchanged_files_are_checked_by_stat(benchmark, audio_files):
    paths, records = audio_files

    def check() -> None:
        for path, record in zip(paths, records, strict=True):
            identify(path, known=record)

    measure(benchmark, check, group="audio identity", name="stat, records match", items=FILES)


def test_hashing_every_file_again(benchmark, audio_files):
    paths, _ = audio_files

    def check() -> None:
        for path in paths:
            identify(path)

    measure(
        benchmark,
        check,
        group="audio identity",
        name="SHA-256 of every file",
        items=FILES,
        baseline=True,
    )


def test_decoding_every_file(benchmark, audio_files):
    paths, _ = audio_files

    def decode() -> None:
        for path in paths:
            load(path)

    measure(benchmark, decode, group="audio identity", name="decode every file", items=FILES)
