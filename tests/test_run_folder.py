"""A report folder holds one run: another run's report is refused unless --overwrite, which
removes only the files that run listed; a hostile or damaged folder changes nothing outside."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import write_manifest

from seqsim import PackedSequences
from seqsim.cli import main
from seqsim.evaluation import RetrievalResult, evaluate_embeddings
from seqsim.report import write_report, write_reports
from seqsim.run_folder import RUN_RECORD, ReportFolderError, RunFolder, check_report_folder


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def result_of(metric="seqsim", layer=0):
    frames = PackedSequences.from_lengths(np.eye(4, dtype=np.float32), [2, 2])
    embeddings = {"en": (["s1", "s2"], frames), "fr": (["s1", "s2"], frames)}
    return evaluate_embeddings(embeddings, metric, settings={"layer": layer})


def test_a_second_cli_run_into_a_report_folder_is_refused_then_replaced(
    tmp_path, tiny_whisper_dir, monkeypatch
):
    manifest = write_manifest(tmp_path)
    out = tmp_path / "R"
    first = run(
        "evaluate",
        "--manifest",
        manifest,
        "--model",
        tiny_whisper_dir,
        "--layer",
        "1",
        "--metric",
        "avgsim",
        "--out",
        out,
    )
    assert first.exit_code == 0, first.output
    (out / "notes.txt").write_text("the user's own file")

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr("seqsim.encoders.whisper.load_whisper", no_loading)
    again = [
        "evaluate",
        "--manifest",
        manifest,
        "--model",
        tiny_whisper_dir,
        "--layer",
        "1",
        "--metric",
        "seqsim,dtw",
        "--out",
        out,
    ]
    refused = run(*again)
    assert refused.exit_code == 1
    assert f"{out} holds the report of another run" in refused.output
    assert "give --overwrite to replace it" in refused.output
    assert json.loads((out / "results.json").read_text())["settings"]["metric"] == "avgsim"
    monkeypatch.undo()  # the store holds every utterance: the model is not loaded anyway
    replaced = run(*again, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    for name in ("results.json", "r_at_1.csv", "ranks.csv", "report.md", "heatmap.png"):
        assert not (out / name).exists()  # nothing of the avgsim run is left on top
    assert (out / "notes.txt").read_text() == "the user's own file"
    assert (out / "store" / "store.json").is_file()  # the embeddings are kept
    with pytest.raises(
        FileNotFoundError,
        match=r"holds the reports of 2 results, one per "
        r"folder: load one of .*seqsim_layer1, .*dtw_layer1",
    ):
        RetrievalResult.load(out)
    assert RetrievalResult.load(out / "dtw_layer1").settings["metric"] == "dtw"


def test_the_terminal_shows_every_mean_then_the_first_matrix(tmp_path, tiny_whisper_dir):
    manifest = write_manifest(tmp_path)
    out = tmp_path / "R"
    result = run(
        "evaluate",
        "--manifest",
        manifest,
        "--model",
        tiny_whisper_dir,
        "--layers",
        "1,2",
        "--metric",
        "seqsim,avgsim",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = lines.index("| metric | layer 1 | layer 2 |")
    for row, metric in enumerate(("seqsim", "avgsim"), start=2):
        cells = lines[header + row].strip("|").split("|")
        assert cells[0].strip() == metric
        for cell, layer in zip(cells[1:], (1, 2), strict=True):
            saved = RetrievalResult.load(out / f"{metric}_layer{layer}")
            assert float(cell) == round(100 * saved.mean(), 1)
    assert f"the first of them ({out / 'seqsim_layer1'})" in result.output


def test_write_report_refuses_another_runs_folder_and_overwrite_replaces_only_its_files(
    tmp_path,
):
    out = tmp_path / "report"
    grid = {("seqsim", 0): result_of("seqsim"), ("avgsim", 0): result_of("avgsim")}
    write_reports(grid, out, "svg")
    (out / "store").mkdir()
    (out / "store" / "store.json").write_text("{}")
    with pytest.raises(ReportFolderError, match="give overwrite=True to replace it"):
        write_report(result_of("avgsim"), out)
    write_report(result_of("avgsim"), out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [
        "heatmap.png",
        "r_at_1.csv",
        "ranks.csv",
        "report.html",
        "report.md",
        "results.json",
        RUN_RECORD,
        "store",
    ]
    assert RetrievalResult.load(out).settings["metric"] == "avgsim"


def test_report_files_of_a_run_without_a_record_are_refused_too(tmp_path):
    (tmp_path / "r_at_1.csv").write_text("query,en\n")
    with pytest.raises(ReportFolderError, match=r"report files of an earlier run \(r_at_1.csv"):
        check_report_folder(tmp_path)
    check_report_folder(tmp_path, overwrite=True)
    (tmp_path / "r_at_1.csv").unlink()
    (tmp_path / "store").mkdir()  # a store, or any other file, is not a report
    check_report_folder(tmp_path)
    (tmp_path / "plain.txt").write_text("")
    with pytest.raises(ReportFolderError, match="is a file, not a report folder"):
        check_report_folder(tmp_path / "plain.txt")


def test_an_interrupted_run_is_known_as_unfinished(tmp_path):
    out = tmp_path / "report"
    with pytest.raises(KeyboardInterrupt), RunFolder(out).writing() as run_folder:
        run_folder.file("results.json").write_text(json.dumps(result_of().to_dict()))
        raise KeyboardInterrupt
    with pytest.raises(ValueError, match="never finished"):
        RetrievalResult.load(out)
    with pytest.raises(ReportFolderError, match="never finished"):
        check_report_folder(out)
    write_report(result_of(), out, overwrite=True)
    assert RetrievalResult.load(out) == result_of()


def test_a_tampered_record_never_reaches_outside_the_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    out = tmp_path / "report"
    write_report(result_of(), out)
    record = json.loads((out / RUN_RECORD).read_text())
    (out / RUN_RECORD).write_text(json.dumps({**record, "files": ["../outside/precious.txt"]}))
    with pytest.raises(ReportFolderError, match="lists '../outside/precious.txt', which is not"):
        write_report(result_of(), out, overwrite=True)
    # a listed folder replaced by a link to elsewhere: nothing under it is removed
    (out / "sub").symlink_to(outside)
    (out / RUN_RECORD).write_text(json.dumps({**record, "files": ["sub/precious.txt"]}))
    write_report(result_of(), out, overwrite=True)
    assert (outside / "precious.txt").read_text() == "keep me"


def test_a_link_planted_at_a_report_file_is_replaced_not_followed(tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("not a report")
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").symlink_to(target)
    write_report(result_of(), out, overwrite=True)
    assert target.read_text() == "not a report"
    assert not (out / "report.md").is_symlink() and "R@1" in (out / "report.md").read_text()
    (out / "linked").symlink_to(tmp_path)
    with (
        pytest.raises(ReportFolderError, match="is a link"),
        RunFolder(out, overwrite=True).writing() as run_folder,
    ):
        run_folder.file("linked/results.json")
