"""`harness score`: a run's submission file rescored exactly; a corpus of malformed submissions,
each refused with its exact problem, never recorded as scored, never echoing a reference value."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from harness.cli import main
from harness.errors import HarnessError
from harness.families.rppg import signal
from harness.families.rppg.family import FAMILY
from harness.scoring import score_file
from harness.task import TaskIndex

TASK = TaskIndex().tasks["svc2026-rppg-phase2"]


@pytest.fixture(scope="module")
def corpus(pos_submission):
    """The shared POS submission and reference, their ids and the ground-truth HRs."""
    folder = pos_submission["folder"]
    refs = FAMILY.read_reference(TASK, folder / "ref.npz")[0]
    recipe = signal.Recipe.from_dict(TASK.recipe)
    gt_hr = {i: float(signal.hr_from_bvp(r["bvp"], r["fs"], recipe)) for i, r in refs.items()}
    return {"folder": folder, "record": pos_submission["record"], "ids": sorted(refs), "gt_hr": gt_hr}


def good_csv(corpus, shift: float = 3.0) -> str:
    return "id,hr_bpm\n" + "".join(f"{i},{corpus['gt_hr'][i] + shift}\n" for i in corpus["ids"])


def score_cli(capsys, tmp_path, corpus, name: str, content: bytes, *extra: str):
    path = tmp_path / name
    path.write_bytes(content)
    code = main(["score", "--task", TASK.name, "--predictions", str(path), "--reference",
                 str(corpus["folder"] / "ref.npz"), "--team", "t1", "--results", str(tmp_path / "res"), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def store_entries(tmp_path) -> list[dict]:
    path = tmp_path / "res" / "submissions"
    return [json.loads(line) for f in sorted(path.glob("*.jsonl")) for line in f.read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------- the same numbers
def test_score_of_a_runs_submission_reproduces_the_run_exactly(capsys, tmp_path, corpus):
    for ref_args in ([], ["--reference", str(corpus["folder"] / "ref.npz")]):
        code = main(["score", "--task", TASK.name, "--predictions", str(corpus["folder"] / "run.npz"), "--json", *ref_args])
        out, err = capsys.readouterr()
        assert code == 0, err
        scored = json.loads(out)
        assert scored["status"] == "scored"
        assert scored["metrics"] == corpus["record"]["metrics"]


def test_valid_csv_with_bom_crlf_and_zip_wrapping_scores(capsys, tmp_path, corpus):
    text = good_csv(corpus).replace("\n", "\r\n")
    code, out, err = score_cli(capsys, tmp_path, corpus, "bom.csv", b"\xef\xbb\xbf" + text.encode())
    assert code == 0, err
    assert "3.00 ± 0.00" in out  # every prediction is exactly 3 bpm off
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("predictions.csv", good_csv(corpus, shift=-2.0))
    code, out, err = score_cli(capsys, tmp_path, corpus, "upload.zip", buf.getvalue())
    assert code == 0, err and "2.00 ± 0.00" in out
    assert [e["status"] for e in store_entries(tmp_path)] == ["scored", "scored"]


def test_rescoring_the_same_file_is_idempotent(capsys, tmp_path, corpus):
    for _ in range(2):
        assert score_cli(capsys, tmp_path, corpus, "same.csv", good_csv(corpus).encode())[0] == 0
    assert len(store_entries(tmp_path)) == 1


# ----------------------------------------------------------------------------- malformed corpus
def _zip(members: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            z.writestr(info, "target.csv")
    return buf.getvalue()


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _waves(corpus, **override):
    z = np.load(corpus["folder"] / "run.npz")
    arrays = {k: z[k] for k in z.files}
    arrays.update(override)
    return {k: v for k, v in arrays.items() if v is not None}


def _rows(corpus, edit) -> bytes:
    lines = good_csv(corpus).splitlines()
    return ("\n".join(edit(lines)) + "\n").encode()


ID1 = "physdrive/subject1"
CASES = {
    # name: (file name, content builder (corpus -> bytes), exact problem text)
    "empty": ("p.csv", lambda c: b"", "the prediction file is empty"),
    "blank": ("p.csv", lambda c: b"  \n\n", "the file has no content"),
    "binary": ("p.csv", lambda c: b"id,hr_bpm\n\x00\x01\x02", "the file is binary, not a text CSV"),
    "latin1": ("p.csv", lambda c: "id,hr_bpm\ncafé,70\n".encode("latin-1"), "the file is not UTF-8 text"),
    "header-names": ("p.csv", lambda c: b"video,hr\n", "the header must be exactly 'id,hr_bpm', got 'video,hr'"),
    "header-extra-column": ("p.csv", lambda c: b"id,hr_bpm,confidence\n", "the header must be exactly 'id,hr_bpm'"),
    "semicolons": ("p.csv", lambda c: b"id;hr_bpm\nx;70\n", "the file uses semicolons between columns"),
    "tabs": ("p.csv", lambda c: b"id\thr_bpm\nx\t70\n", "the file uses tabs between columns"),
    "duplicate-id": ("p.csv", lambda c: _rows(c, lambda ls: ls + [ls[1]]), f"1 duplicate id(s): '{ID1}'"),
    "missing-ids": ("p.csv", lambda c: _rows(c, lambda ls: ls[:-2]), "2 missing id(s): 'physdrive/subject7', 'physdrive/subject8'"),
    "unexpected-id": ("p.csv", lambda c: _rows(c, lambda ls: ls + ["physdrive/subject99,70"]), "1 unexpected id(s): 'physdrive/subject99'"),
    "not-a-number": ("p.csv", lambda c: _rows(c, lambda ls: [ls[0], f"{ID1},seventy"] + ls[2:]), f"1 row(s) with hr_bpm not a number: '{ID1}'"),
    "nan": ("p.csv", lambda c: _rows(c, lambda ls: [ls[0], f"{ID1},nan"] + ls[2:]), f"1 row(s) with hr_bpm not finite: '{ID1}'"),
    "inf": ("p.csv", lambda c: _rows(c, lambda ls: [ls[0], f"{ID1},inf"] + ls[2:]), f"1 row(s) with hr_bpm not finite: '{ID1}'"),
    "too-high": ("p.csv", lambda c: _rows(c, lambda ls: [ls[0], f"{ID1},500"] + ls[2:]), f"1 row(s) with hr_bpm outside [20, 300] bpm: '{ID1}'"),
    "negative": ("p.csv", lambda c: _rows(c, lambda ls: [ls[0], f"{ID1},-70"] + ls[2:]), "outside [20, 300] bpm"),
    "extra-field": ("p.csv", lambda c: _rows(c, lambda ls: [ls[0], f"{ID1},70,1"] + ls[2:]), "1 line(s) without exactly 2 fields and an id: line 2"),
    "empty-id": ("p.csv", lambda c: _rows(c, lambda ls: ls + [",70"]), "1 line(s) without exactly 2 fields and an id: line 10"),
    "other-task": ("p.csv", lambda c: b"id,hr_bpm\nmmpd/subject2,70\nmmpd/subject4,80\n", "none of the 2 ids belongs to task 'svc2026-rppg-phase2'"),
    "header-only": ("p.csv", lambda c: b"id,hr_bpm\n", "8 missing id(s)"),
    "unknown-format": ("p.txt", lambda c: good_csv(c).encode(), "unknown prediction format"),
    "npz-not-zip": ("p.npz", lambda c: b"this is not an npz", "the .npz is not a valid zip archive"),
    "npz-pickle": ("p.npz", lambda c: _npz(**{ID1: np.array([{"x": 1}], dtype=object), "__fs__": np.array(30.0)}), "pickles are refused"),
    "npz-no-fs": ("p.npz", lambda c: _npz(**_waves(c, __fs__=None)), "the .npz has no '__fs__' array"),
    "npz-bad-fs": ("p.npz", lambda c: _npz(**_waves(c, __fs__=np.array(-30.0))), "8 id(s) whose rate is not a positive number"),
    "npz-2d": ("p.npz", lambda c: _npz(**_waves(c, **{ID1: np.zeros((2, 600))})), f"1 id(s) whose waveform is not a 1-D numeric array: '{ID1}'"),
    "npz-nan": ("p.npz", lambda c: _npz(**_waves(c, **{ID1: np.full(600, np.nan)})), f"1 id(s) whose waveform has NaN or infinite values: '{ID1}'"),
    "npz-short": ("p.npz", lambda c: _npz(**_waves(c, **{ID1: np.ones(299)})), "1 id(s) whose waveform does not cover the video"),
    "npz-strings": ("p.npz", lambda c: _npz(**_waves(c, **{ID1: np.array(["a"] * 600)})), "not a 1-D numeric array"),
    "zip-two-files": ("p.zip", lambda c: _zip({"a.csv": b"x", "b.csv": b"y"}), "the zip must hold exactly one prediction file, it holds 2"),
    "zip-dotdot": ("p.zip", lambda c: _zip({"../evil.csv": good_csv(c).encode()}), "the zip holds an unsafe path '../evil.csv'"),
    "zip-absolute": ("p.zip", lambda c: _zip({"/etc/evil.csv": good_csv(c).encode()}), "the zip holds an unsafe path '/etc/evil.csv'"),
    "zip-link": ("p.zip", lambda c: _zip({}, links=("p.csv",)), "the zip holds 'p.csv' which is a link"),
    "zip-corrupt": ("p.zip", lambda c: b"PK\x03\x04garbage", "not a valid zip archive"),
    "zip-empty-member": ("p.zip", lambda c: _zip({"p.csv": b""}), "'p.csv' inside the zip is empty"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_submission_is_refused_with_its_exact_problem(capsys, tmp_path, corpus, case):
    name, build, problem = CASES[case]
    code, out, err = score_cli(capsys, tmp_path, corpus, name, build(corpus))
    assert code == 2
    assert problem in err, err
    assert "Traceback" not in err
    assert all(e["status"] != "scored" for e in store_entries(tmp_path))
    for value in corpus["gt_hr"].values():  # no reference value ever reaches the participant
        assert f"{value:.1f}" not in err and f"{value:.2f}" not in err


def test_failed_submissions_are_recorded_with_their_reasons(capsys, tmp_path, corpus):
    code, _, _ = score_cli(capsys, tmp_path, corpus, "p.csv", _rows(corpus, lambda ls: ls[:-1] + [ls[1]]))
    assert code == 2
    (entry,) = store_entries(tmp_path)
    assert entry["status"] == "failed" and entry["team"] == "t1"
    assert any("duplicate id(s)" in r for r in entry["reasons"]) and any("missing id(s)" in r for r in entry["reasons"])


def test_size_limits_and_zip_bombs(tmp_path, corpus):
    big = tmp_path / "big.csv"
    big.write_text(good_csv(corpus))
    with pytest.raises(HarnessError, match="the prediction file is .* bytes; the limit is 100"):
        score_file(TASK, big, reference=corpus["folder"] / "ref.npz", max_bytes=100)
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(_zip({"p.csv": b"0" * 200_000}))
    assert bomb.stat().st_size < 5_000
    with pytest.raises(HarnessError, match="the zip expands to 0.2 MB; the limit is 0.1 MB"):
        score_file(TASK, bomb, reference=corpus["folder"] / "ref.npz", max_bytes=100_000)


def test_malformed_reference_file_is_an_organizer_error(tmp_path, corpus):
    bad = tmp_path / "ref.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(HarnessError, match=f"{bad}: malformed reference file"):
        score_file(TASK, corpus["folder"] / "run.npz", reference=bad)
    no_fs = tmp_path / "ref2.npz"
    no_fs.write_bytes(_npz(**{ID1: np.ones(600)}))
    with pytest.raises(HarnessError, match="malformed reference file: the .npz has no '__fs__' array"):
        score_file(TASK, corpus["folder"] / "run.npz", reference=no_fs)


def test_groups_cannot_be_scored_as_one(capsys, corpus):
    code = main(["score", "--task", "svc2026-rppg", "--predictions", str(corpus["folder"] / "run.npz")])
    assert code == 2 and "is a group" in capsys.readouterr().err


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.text(max_size=300),
    st.lists(st.tuples(st.sampled_from([ID1, "physdrive/subject2", "x", "", "physdrive/subject3"]),
                       st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=5))),
             max_size=12).map(lambda rows: "id,hr_bpm\n" + "".join(f"{a},{b}\n" for a, b in rows)),
))
def test_the_validator_never_crashes_on_arbitrary_csv(tmp_path_factory, corpus, body):
    path = tmp_path_factory.mktemp("fuzz") / "p.csv"
    path.write_text(body, encoding="utf-8")
    try:
        record = score_file(TASK, path, reference=corpus["folder"] / "ref.npz", n_boot=20)
    except HarnessError:
        return
    assert record["status"] in ("scored", "failed")
    if record["status"] == "failed":
        assert record["reasons"]


@pytest.mark.parametrize("name", ["svc2026-rppg-phase2.csv", "svc2026-rppg-phase2.npz"])
def test_documented_example_files_score(capsys, corpus, name):
    example = Path(__file__).resolve().parent.parent / "tasks" / "rppg" / "examples" / name
    code = main(["score", "--task", TASK.name, "--predictions", str(example), "--reference",
                 str(corpus["folder"] / "ref.npz"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err and json.loads(out)["status"] == "scored"


def test_a_reference_of_another_task_or_changed_since_export_is_refused(capsys, tmp_path, corpus):
    """`harness data reference` writes <ref>.harness.json (task, version, config hash, content digest);
    `harness score --reference` checks it, and warns when it is missing."""
    ref, run = corpus["folder"] / "ref.npz", corpus["folder"] / "run.npz"
    sidecar = json.loads((corpus["folder"] / "ref.npz.harness.json").read_text())
    assert (sidecar["task"], sidecar["version"], sidecar["config_hash"]) == (TASK.name, TASK.version, TASK.config_hash)
    other = "svc2026-rppg-phase1"
    code = main(["score", "--task", other, "--predictions", str(run), "--reference", str(ref)])
    err = capsys.readouterr().err
    assert code == 2 and f"exported for task {TASK.name} v{TASK.version}" in err and f"not {other}" in err
    changed = tmp_path / "ref.npz"
    with np.load(ref) as z:
        arrays = {k: z[k] for k in z.files}
    first = next(k for k in arrays if not k.startswith("__"))
    arrays[first] = arrays[first] + 1.0
    np.savez(changed, **arrays)
    (tmp_path / "ref.npz.harness.json").write_text(json.dumps(sidecar))
    code = main(["score", "--task", TASK.name, "--predictions", str(run), "--reference", str(changed)])
    assert code == 2 and "the reference changed after it was exported" in capsys.readouterr().err
    (tmp_path / "ref.npz.harness.json").unlink()
    code = main(["score", "--task", TASK.name, "--predictions", str(run), "--reference", str(changed)])
    assert code == 0 and "no ref.npz.harness.json beside the reference" in capsys.readouterr().err


def test_a_reference_is_exported_under_its_family_s_suffix(capsys, tmp_path):
    code = main(["data", "reference", "--task", TASK.name, "--out", str(tmp_path / "ref.csv")])
    assert code == 2 and "the reference of a rppg task is a .npz file" in capsys.readouterr().err
    assert not (tmp_path / "ref.csv").exists()
    code = main(["data", "reference", "--task", "svc2026-deception", "--out", str(tmp_path / "ref.npz")])
    assert code == 2 and "is a .csv file" in capsys.readouterr().err


def test_the_store_key_includes_the_reference_digest(capsys, tmp_path, corpus):
    """The same file scored against two different truths: two entries, the board follows the latest."""
    from harness.submissions import SubmissionStore

    res = tmp_path / "res"
    run = corpus["folder"] / "run.npz"
    base = ["score", "--task", TASK.name, "--predictions", str(run), "--team", "t", "--results", str(res), "--n-boot", "20"]
    assert main(base + ["--reference", str(corpus["folder"] / "ref.npz")]) == 0
    assert main(base + ["--reference", str(corpus["folder"] / "ref.npz")]) == 0   # idempotent
    assert main(base + ["--reference", str(run)]) == 0  # the run's own outputs as "truth": a perfect score
    capsys.readouterr()
    store = SubmissionStore(res / "submissions")
    entries = store.entries(TASK.name)
    assert len(entries) == 2 and entries[0]["reference"] != entries[1]["reference"]
    rows = store.ranked(TASK, "final")
    assert rows[0]["metrics"]["mae"]["value"] == 0.0 and store.other_reference == 1


def test_an_unreadable_upload_scored_for_a_team_is_recorded_failed(capsys, tmp_path, corpus):
    """Nothing is lost: with --team, a file that cannot even be read still gets its failed entry."""
    from harness.submissions import SubmissionStore

    res = tmp_path / "res"
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    code = main(["score", "--task", TASK.name, "--predictions", str(empty), "--team", "t", "--results", str(res),
                 "--reference", str(corpus["folder"] / "ref.npz")])
    assert code == 2
    (entry,) = SubmissionStore(res / "submissions").entries(TASK.name)
    assert entry["status"] == "failed" and entry["reasons"] == ["the prediction file is empty"]
    assert str(tmp_path) not in json.dumps(entry)  # participant-safe: no organizer paths
