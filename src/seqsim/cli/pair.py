"""``seqsim pair``: a picture of one pair's frame similarities."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from .errors import friendly_errors
from .options import device_option, layer_option, model_option, out_option
from .output import with_folder, writable_folder

if TYPE_CHECKING:
    from ..encoders import EncoderSpec


@click.command(name="pair")
@click.argument("audio_a", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("audio_b", type=click.Path(dir_okay=False, path_type=Path))
@out_option("file", "The picture: .png, .svg or .pdf.")
@model_option()
@layer_option("Encoder layer (hidden-state index).")
@click.option(
    "--words-a",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Words of AUDIO_A: TSV of word, start, end in seconds (docs/pair.md).",
)
@click.option(
    "--words-b",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Words of AUDIO_B, likewise.",
)
@device_option("the encoder")
@friendly_errors
def pair_command(
    audio_a: Path,
    audio_b: Path,
    out: Path,
    model: EncoderSpec,
    layer: int,
    words_a: Path | None,
    words_b: Path | None,
    device: str,
) -> None:
    """Picture of one pair's frame similarities (AUDIO_A up, AUDIO_B across): cosines, every
    frame's best match both ways, SeqSim P/R/F1, and optional word boundaries."""
    from .. import audio as audio_io
    from ..pair import pair_similarity, picture_format, plot_pair, read_words

    picture = picture_format(out)
    writable_folder(out.parent, "picture")
    samples = [audio_io.load(path) for path in (audio_a, audio_b)]
    words = [
        read_words(path, duration=len(audio) / audio_io.SAMPLE_RATE) if path else []
        for path, audio in zip((words_a, words_b), samples, strict=True)
    ]
    embedder = model.load(layers=layer, device=device)
    frames = [e.frames for e in embedder.embed([(s, audio_io.SAMPLE_RATE) for s in samples])]
    similarity = pair_similarity(*frames)
    labels = [
        f"{path.parent.name}/{path.name}" if path.parent.name else path.name
        for path in (audio_a, audio_b)
    ]
    figure = plot_pair(
        similarity,
        label_a=labels[0],
        label_b=labels[1],
        words_a=words[0],
        words_b=words[1],
        title=f"{embedder.model_name}, layer {embedder.layers[0]}",
        frame_seconds=embedder.frame_seconds,
    )
    figure.savefig(with_folder(out), format=picture, dpi=110)
    click.echo(
        f"SeqSim P {similarity.precision:.4f}  R {similarity.recall:.4f}  "
        f"F1 {similarity.f1:.4f} ({len(frames[0])} x {len(frames[1])} frames) -> {out}"
    )
