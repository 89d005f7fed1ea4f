"""The organizer's workflow: participant copy and reference, a participant's run on the copy,
uploads, batch scoring into declared phases, the team board in every format, early checks."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.task import TaskIndex
from harness.errors import HarnessError
from harness.leaderboard import RANK_RULE, render, team_board
from harness.submissions import SubmissionStore, load_task


def _worse_deception(src: Path, dst: Path) -> None:
    """Scores flipped: P(truth) → 1 − P(truth)."""
    lines = [line.split() for line in src.read_text().splitlines() if line.strip()]
    dst.write_text("".join(f"{i} {1 - float(s)!r}\n" for i, s in lines))


def _worse_rppg(src: Path, dst: Path) -> None:
    """Every waveform replaced by seeded noise of the same length."""
    from harness.families.rppg.predictions import write_npz

    with np.load(src, allow_pickle=False) as z:
        fs = float(z["__fs__"])
        ids = [k for k in z.files if k != "__fs__"]
        rng = np.random.default_rng(0)
        write_npz(dst, {i: rng.standard_normal(z[i].shape[0]) for i in ids}, {i: fs for i in ids})


def _labels_gone_deception(copy: Path) -> None:
    store = copy / "dolos" / "features" / "test"
    meta = json.loads((store / "store.json").read_text())
    clips = json.loads((store / "clips.json").read_text())
    assert meta["labels"] is False and meta["ids"] == "opaque"
    assert all(c["label"] is None and c["videoname"].startswith("dd-") for c in clips)


def _labels_gone_rppg(copy: Path) -> None:
    videos = sorted((copy / "physdrive").glob("*/vid.avi"))
    assert videos and all(v.parent.name.startswith("p-") for v in videos)
    assert not list((copy / "physdrive").rglob("ground_truth.txt"))
    marker = json.loads((copy / "physdrive" / "synth.json").read_text())  # still the sample, without the generator's
    assert marker["data"] == "sample" and "subjects" not in marker          # per-subject heart rates


def _worse_scores_csv(src: Path, dst: Path) -> None:
    """``id,score`` (FAS) or ``id,alpha,score`` (IQA) with every score s replaced by 1 − s."""
    lines = src.read_text().splitlines()
    rows = [line.rsplit(",", 1) for line in lines[1:]]
    dst.write_text(lines[0] + "\n" + "".join(f"{head},{1 - float(s)!r}\n" for head, s in rows))


def _worse_splicing(src: Path, dst: Path) -> None:
    """Every mask inverted (255 − level) and every image score s replaced by 1 − s."""
    import cv2
    import zipfile

    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as out:
        for name in z.namelist():
            blob = z.read(name)
            if name.endswith(".png"):
                blob = cv2.imencode(".png", 255 - cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED))[1].tobytes()
            elif name == "scores.csv":
                lines = blob.decode().splitlines()
                blob = ("\n".join([lines[0], *(f"{i},{1 - float(v)!r}" for i, v in (r.split(",") for r in lines[1:]))])
                        + "\n").encode()
            out.writestr(name, blob)


def _labels_gone_fas(copy: Path) -> None:
    lines = (copy / "MMDG-Benchmark" / "W-test.txt").read_text().splitlines()
    assert lines and all(len(line.split()) == 3 and line.startswith("p-") for line in lines)  # no label field
    assert not (copy / "FlexModal_Protocols").exists() and not (copy / "wmca" / "WMCA-Image").exists()
    assert sorted(p.name for p in copy.glob("MMDG-Benchmark/*.txt")) == [
        f"{d}-{s}.txt" for d in "CPS" for s in ("train", "val")] + ["W-test.txt"]
    assert json.loads((copy / "synth.json").read_text())["data"] == "sample"  # no attack types, no generator notes


def _labels_gone_images(copy: Path) -> None:
    tests = sorted(p for p in (copy / "test-inputs").rglob("*") if p.is_file())
    assert tests and all(p.stem.startswith("p-") for p in tests)
    assert not [p for p in copy.rglob("*") if p.parent.name in ("Gt", "Tp", "Au", "masks") and "test-inputs" in p.parts]
    names = {p.name for p in copy.rglob("*")}
    assert "AllMOS_release.mat" not in names and "dmos.csv" not in names and "koniq10k_scores_and_distributions.csv" not in names


DAYS = {
    "deception": dict(task="svc2026-deception", model="dd-linear", suffix=".txt", reference=".csv",
                      worse=_worse_deception, labels_gone=_labels_gone_deception),
    "rppg": dict(task="svc2026-rppg-phase2", model="pos", suffix=".npz", reference=".npz",
                 worse=_worse_rppg, labels_gone=_labels_gone_rppg),
    "fas": dict(task="mmdg-p1-cps-w", model="fas-relief", suffix=".csv", reference=".csv",
                worse=_worse_scores_csv, labels_gone=_labels_gone_fas),
    "splicing": dict(task="scisp-split", model="splice-noise", suffix=".zip", reference="",
                     worse=_worse_splicing, labels_gone=_labels_gone_images),
    "iqa_backdoor": dict(task="iqa-livec", model="iqa-ridge", suffix=".csv", reference=".csv",
                         worse=_worse_scores_csv, labels_gone=_labels_gone_images),
}


def _no_original_test_id_in_the_copy(copy: Path, id_map: Path) -> None:
    """No original test id in the copy's paths or listings (the id map is the organizer's): an id
    with a folder in it nowhere as text, a plain id (e.g. IQA's ``3``) as no file name or field."""
    import re

    originals = [line.split(",")[0] for line in id_map.read_text().splitlines()[1:]]
    assert originals
    files = [p for p in copy.rglob("*") if p.is_file()]
    texts = [p.relative_to(copy).as_posix() for p in copy.rglob("*")] + [
        p.read_text(errors="replace") for p in files if p.suffix in (".txt", ".csv", ".json") and p.name != "participant.json"]
    tokens = {t for text in texts for t in re.split(r"[\s,;/\"'\[\]{}()]+", text)}
    names = tokens | {t.rsplit(".", 1)[0] for t in tokens if t.lower().endswith((".png", ".jpg", ".jpeg", ".bmp", ".tif",
                                                                                      ".tiff", ".npz", ".avi"))}
    for original in originals:
        assert (not any(original in t for t in texts)) if "/" in original else original not in names, original


def day_primary(task: str) -> str:
    return TaskIndex().tasks[task].primary_metric


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("family", sorted(DAYS))
def test_the_organizers_day_on_the_sample(family, tmp_path, capsys, one_torch_thread, request):
    day = DAYS[family]
    pos_submission = request.getfixturevalue("pos_submission") if family == "rppg" else None
    task = day["task"]
    copy, reference = tmp_path / "for-participants", tmp_path / f"for-participants-reference{day['reference']}"

    # 1. reference and participant copy, in one step
    code, out, _ = _cli(capsys, "data", "participant-copy", "--task", task, "--data-root", "sample", "--out", str(copy))
    assert code == 0 and str(reference) in out
    meta = json.loads((copy / "participant.json").read_text())
    assert (meta["task"], meta["data"], meta["labels"], meta["ids"]) == (task, "sample", "withheld", "opaque")
    assert json.loads(Path(f"{reference}.harness.json").read_text())["data"] == "sample"
    day["labels_gone"](copy)
    assert "harness run --task " + task in (copy / "README.md").read_text()
    id_map = Path(f"{reference}.ids.csv")
    if family != "deception":  # deception's ids are keyed; the others' are renamed, with the map beside the reference
        _no_original_test_id_in_the_copy(copy, id_map)

    # 2. a participant's run on the copy writes the upload and scores nothing
    alpha = tmp_path / "uploads" / f"alpha{day['suffix']}"
    alpha.parent.mkdir()
    code, out, _ = _cli(capsys, "run", "--task", task, "--data-root", str(copy), "--model", day["model"],
                        "--submission", str(alpha), "--n-boot", "0")
    assert code == 0 and "nothing scored" in out and alpha.is_file()
    assert not list((tmp_path / "results").glob("runs/*/*/*/record.json"))  # no board entry from an unlabelled run
    day["worse"](alpha, alpha.with_name(f"beta{day['suffix']}"))

    # 3. batch scoring into a declared phase; a typo is refused before anything is read
    store = SubmissionStore(tmp_path / "results" / "submissions")
    if family == "deception":
        code, _, err = _cli(capsys, "score", "--task", task, "--submissions", str(alpha.parent), "--reference",
                            str(reference), "--phase", "Dev")
        assert code == 2 and "unknown phase 'Dev'. Did you mean 'dev'?" in err and not store.path(task).exists()
    code, out, _ = _cli(capsys, "score", "--task", task, "--submissions", str(alpha.parent), "--reference",
                        str(reference), "--phase", "dev", "--n-boot", "0")
    assert code == 0 and "recorded in phase 'dev' (sample labels)" in out
    if family == "deception":
        code, out, _ = _cli(capsys, "score", "--task", task, "--predictions", str(alpha), "--reference",
                            str(reference), "--team", "alpha", "--phase", "final", "--n-boot", "0")
        assert code == 0 and "recorded submission #3" in out and "team 'alpha' in phase 'final': scored, sample labels" in out
    assert {e["data"] for e in store.entries(task)} == {"sample"}

    # the upload scores exactly as a run on the labelled data
    if family == "rppg":
        direct = pos_submission["record"]["metrics"]
    else:
        code, out, _ = _cli(capsys, "run", "--task", task, "--data-root", "sample", "--model", day["model"],
                            "--n-boot", "0", "--json")
        direct = json.loads(out)["metrics"]
    uploaded = next(e for e in store.entries(task, "dev") if e["team"] == "alpha")["metrics"]
    assert {m: v["value"] for m, v in uploaded.items()} == pytest.approx({m: v["value"] for m, v in direct.items()},
                                                                          nan_ok=True)

    # 4. the team board as Markdown and HTML
    code, out, _ = _cli(capsys, "submissions", "leaderboard", "--task", task, "--phase", "dev")
    lines = out.splitlines()
    assert code == 0 and lines[0].endswith("phase dev, teams — data: sample")
    # alpha first; beta ranks 2, or shares rank 1 while its 95% CI overlaps alpha's (the one rank rule)
    alpha_ci = next(e for e in store.entries(task, "dev") if e["team"] == "alpha")["metrics"][day_primary(task)]
    beta_ci = next(e for e in store.entries(task, "dev") if e["team"] == "beta")["metrics"][day_primary(task)]
    overlap = alpha_ci["ci_low"] is not None and beta_ci["ci_low"] is not None and \
        max(alpha_ci["ci_low"], beta_ci["ci_low"]) <= min(alpha_ci["ci_high"], beta_ci["ci_high"])
    assert lines[4].startswith("| 1 | alpha |") and lines[5].startswith(f"| {1 if overlap else 2} | beta |")
    assert "rehearsal, not a challenge result" in out and "one rule for the run board and the team board" in out
    code, out, _ = _cli(capsys, "submissions", "leaderboard", "--task", task, "--phase", "dev", "--format", "html",
                        "--out", str(tmp_path / "board"))
    page = (tmp_path / "board" / f"{task}-dev.html").read_text()
    assert code == 0 and '<table id="board">' in page and 'data-model="alpha"' in page and "data: sample" in page

    # 5. a bundle that says its labels are synthetic, and is refused without --allow-sample
    bundle = ("codabench-bundle", "--task", task, "--reference", str(reference), "--docker-image", "me/harness:0.1",
              "--out", str(tmp_path / "bundle"))
    code, _, err = _cli(capsys, *bundle)
    assert code == 2 and "--allow-sample" in err and not (tmp_path / "bundle").exists()
    code, out, err = _cli(capsys, *bundle, "--allow-sample")
    assert code == 0 and "sample labels" in out and "a test bundle, not a real competition" in err
    assert "labels: development: sample" in (tmp_path / "bundle" / "competition.yaml").read_text()


def test_participant_copy_never_replaces_and_keeps_the_reference_out_of_the_copy(tmp_path, capsys):
    task = "svc2026-deception"
    (tmp_path / "taken").mkdir()
    code, _, err = _cli(capsys, "data", "participant-copy", "--task", task, "--out", str(tmp_path / "taken"))
    assert code == 2 and "would replace something that exists" in err
    code, _, err = _cli(capsys, "data", "participant-copy", "--task", task, "--out", str(tmp_path / "copy"),
                        "--reference", str(tmp_path / "copy" / "ref.csv"))
    assert code == 2 and "must not be inside the participant copy" in err and not (tmp_path / "copy").exists()
    code, _, err = _cli(capsys, "data", "participant-copy", "--task", "dolos-fold1", "--out", str(tmp_path / "c2"))
    assert code == 2 and "not supported for this task" in err and not (tmp_path / "c2").exists()


def test_a_run_on_a_copy_needs_submission_and_a_wrong_suffix_fails_before_any_data_is_read(tmp_path, capsys, monkeypatch):
    from harness.family import FAMILIES

    def no_data(*args, **kwargs):
        raise AssertionError("data was read")

    monkeypatch.setattr(type(FAMILIES.get("deception")), "resolve_data", no_data)
    code, _, err = _cli(capsys, "run", "--task", "svc2026-deception", "--model", "dd-fusion", "--submission",
                        str(tmp_path / "p.npz"))
    assert code == 2 and "a deception prediction file is .txt or .csv" in err
    code, _, err = _cli(capsys, "run", "--task", "svc2026-rppg-phase2", "--model", "pos", "--submission",
                        str(tmp_path / "nowhere" / "p.npz"))
    assert code == 2 and "the folder of --submission does not exist" in err


@pytest.mark.parametrize("name, text, message", [
    ("p.txt", "0.25 dd-0001\n0.75 dd-0002\n", "the columns are swapped: each line is <id> <score>, the file has <score> <id>"),
    ("p.txt", "id score\ndd-0001 0.5\n", "must have no header line"),
    ("p.csv", "score,id\n0.5,dd-0001\n", "the columns are in another order: the header must be exactly 'id,score'"),
])
def test_swapped_columns_are_named(tmp_path, name, text, message):
    from harness.scoring import score_upload

    task = load_task("svc2026-deception")
    path = tmp_path / name
    path.write_text(text)
    refs = {"dd-0001": {"label": 1}, "dd-0002": {"label": 0}}
    with pytest.raises(HarnessError, match=message):
        score_upload(task, path, refs, {})


def _entry(store, task, team, value, low, high, file_hash, phase="dev"):
    metrics = {m.name: {"value": value, "n": 10, "ci_low": low, "ci_high": high} for m in task.metrics}
    return store.record(task=task.name, task_version=task.version, config_hash=task.config_hash, phase=phase,
                        team=team, file_hash=file_hash, status="scored", metrics=metrics, reasons=None,
                        directions=task.directions, primary_metric=task.primary_metric, reference="r", data="real")


def test_team_board_uses_the_run_boards_rank_rule_in_every_format(tmp_path):
    task = load_task("svc2026-deception")  # accuracy ↑ ranks
    store = SubmissionStore(tmp_path)
    _entry(store, task, "gamma", 0.60, 0.50, 0.65, "g")
    _entry(store, task, "alpha", 0.80, 0.70, 0.90, "a")
    _entry(store, task, "beta", 0.75, 0.69, 0.81, "b")   # its CI overlaps alpha's: rank shared
    _entry(store, task, "late", 0.80, 0.70, 0.90, "l")   # a full tie: the earlier upload goes first
    table = team_board(task, store.ranked(task, "dev"), "dev", "best")
    assert [(r.model, r.rank) for r in table.rows] == [("alpha", 1), ("late", 1), ("beta", 1), ("gamma", 4)]
    assert table.data == "real" and RANK_RULE.format(primary="accuracy") in table.notes
    csv_text = render(table, "csv")
    assert csv_text.splitlines()[0].startswith("rank,team,kind,accuracy,accuracy_std,accuracy_ci_low")
    assert csv_text.splitlines()[1].startswith("1,alpha,team,0.8,")
    assert "\\begin{tabular}{rlrrrrrrrrrl}" in render(table, "latex")
    assert [r["model"] for r in json.loads(render(table, "json"))["rows"]] == ["alpha", "late", "beta", "gamma"]
    assert '<th data-key="submitted"' in render(table, "html")


def test_phases_are_declared_by_the_task_or_once_per_store(tmp_path, capsys):
    task = load_task("svc2026-deception")
    store = SubmissionStore(tmp_path / "results" / "submissions")
    assert store.phases(task)[0] == ("dev", "final")
    with pytest.raises(HarnessError, match=r"unknown phase 'probe'\. Available: dev, final"):
        store.check_phase(task, "probe")
    code, out, _ = _cli(capsys, "submissions", "phases", "--set", "warmup,dev,final")
    assert code == 0 and store.phases(task)[0] == ("warmup", "dev", "final")
    assert store.check_phase(task, "warmup") == "warmup"
    code, _, err = _cli(capsys, "submissions", "leaderboard", "--task", task.name, "--phase", "Warmup")
    assert code == 2 and "Did you mean 'warmup'?" in err
    code, _, err = _cli(capsys, "submissions", "phases", "--set", "a,a")
    assert code == 2 and "distinct" in err
    declared = task.__class__(**{**task.__dict__, "phases": ("public", "private")})
    assert store.phases(declared)[0] == ("public", "private") and "task svc2026-deception" in store.phases(declared)[1]


# ----------------------------------------------------------------------------- real layouts
def _splicing_root(root: Path) -> Path:
    """SciSp in layout A with CASIA-style names that tell the label (Tp_/Au_), a PNG text chunk and
    JPEG EXIF/comment metadata that name it too."""
    from PIL import Image, PngImagePlugin

    rng = np.random.default_rng(0)
    for i in range(15):
        image = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", f"tampered Tp_S_sci{i:05d}")
        (root / "scisp" / "Tp").mkdir(parents=True, exist_ok=True)
        image.save(root / "scisp" / "Tp" / f"Tp_S_sci{i:05d}.png", pnginfo=info)
        mask = np.zeros((12, 16), np.uint8)
        mask[2:6, 3:9] = 255
        (root / "scisp" / "Gt").mkdir(exist_ok=True)
        Image.fromarray(mask).save(root / "scisp" / "Gt" / f"Tp_S_sci{i:05d}_gt.png")
    for i in range(10):
        image = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
        exif = Image.Exif()
        exif[0x010E] = f"authentic Au_sci{i:05d}"  # ImageDescription
        (root / "scisp" / "Au").mkdir(exist_ok=True)
        image.save(root / "scisp" / "Au" / f"Au_sci{i:05d}.jpg", exif=exif, comment=b"authentic original")
    return root


def _livec_root(root: Path) -> Path:
    """LIVEC's release layout (7 skipped training images first), PNGs whose text chunk holds the MOS."""
    import scipy.io
    from PIL import Image, PngImagePlugin

    names = [f"trainingImages/t{k}.bmp" for k in range(1, 8)] + [f"live{k:03d}.png" for k in range(20)]
    mos = [50.0] * 7 + [round(20 + 3.1 * k, 2) for k in range(20)]
    cells = np.empty((len(names), 1), dtype=object)
    rng = np.random.default_rng(1)
    for k, (name, m) in enumerate(zip(names, mos)):
        cells[k, 0] = name
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", f"MOS {m}")
        (root / "livec" / "Images" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(
            root / "livec" / "Images" / name, format="PNG", pnginfo=info)
    (root / "livec" / "Data").mkdir()
    scipy.io.savemat(root / "livec" / "Data" / "AllImages_release.mat", {"AllImages_release": cells})
    scipy.io.savemat(root / "livec" / "Data" / "AllMOS_release.mat", {"AllMOS_release": np.array([mos])})
    return root


def _fas_root(root: Path) -> Path:
    from _fas_fixtures import write_benchmark

    write_benchmark(root)
    return root


REAL = {  # task, a real-layout fixture, the reference fields that must survive the renaming, words that must not
    "fas": ("mmdg-p1-psw-c", _fas_root, ("role", "label", "attack_type", "domain"), ("CeFA-Mask", "3D-Mask", "Silicone")),
    "splicing": ("scisp-split", _splicing_root, ("label", "level", "height", "width"), ("Tp_", "Au_", "tampered", "authentic")),
    "iqa_backdoor": ("iqa-livec", _livec_root, ("mos", "alpha"), ("MOS ", "AllMOS")),
}


@pytest.mark.parametrize("family", sorted(REAL))
def test_participant_copy_of_a_real_layout_hides_labels_and_matches_its_reference(family, tmp_path, capsys):
    from harness.family import FAMILIES

    name, make, fields, words = REAL[family]
    task, fam = load_task(name), FAMILIES.get(family)
    root = make(tmp_path / "data")
    copy = tmp_path / "copy"
    code, out, err = _cli(capsys, "data", "participant-copy", "--task", name, "--data-root", str(root), "--out", str(copy))
    assert code == 0, err
    reference = tmp_path / f"copy-reference{fam.reference_suffix}"
    assert str(reference) in out
    assert json.loads(Path(f"{reference}.harness.json").read_text())["data"] == "real"

    # the copy: unlabelled, its ids the reference's, no original test id or label word anywhere in it
    copied = fam.resolve_data(task, copy, need_train=False)
    refs_copy = fam.read_reference(task, reference)[0]
    assert not copied.labelled and set(fam.test_ids(task, copied)) == set(refs_copy)
    id_map = Path(f"{reference}.ids.csv")
    _no_original_test_id_in_the_copy(copy, id_map)
    renamed = dict(line.split(",") for line in id_map.read_text().splitlines()[1:])
    tests = [p for p in copy.rglob("*") if p.is_file() and (p.parent.name == "test-inputs" or "test-inputs" in p.parts
                                                             or p.name.startswith("p-"))]
    assert tests
    for path in tests:
        blob = path.read_bytes()
        assert not any(w.encode() in blob or w in path.as_posix() for w in words), path
    with pytest.raises(HarnessError, match="participant copy holds no"):
        fam.references(task, copy)

    # the reference written with the copy holds what the organizer's own reference holds, renamed
    assert main(["data", "reference", "--task", name, "--data-root", str(root), "--out", str(tmp_path / f"own{fam.reference_suffix}")]) == 0
    capsys.readouterr()
    own = fam.read_reference(task, tmp_path / f"own{fam.reference_suffix}")[0]
    assert len(own) == len(refs_copy)
    for original, r in own.items():
        image = str(r.get("image_id", original))
        copy_id = renamed.get(image, image) + original[len(image):]
        assert {k: r[k] for k in fields} == pytest.approx({k: refs_copy[copy_id][k] for k in fields}, nan_ok=True) \
            if family == "iqa_backdoor" else {k: r[k] for k in fields} == {k: refs_copy[copy_id][k] for k in fields}


def test_test_images_keep_their_pixels_and_lose_their_metadata(tmp_path):
    """PNG text, JPEG EXIF and comments, bytes after the image: gone; pixels: the same; an EXIF
    rotation (which a reader applies) is refused by name; TIFF becomes PNG."""
    import cv2
    from PIL import Image, PngImagePlugin

    from harness.participant import copy_image_clean

    def read(path: Path) -> np.ndarray:
        return cv2.imread(str(path), cv2.IMREAD_COLOR)

    pixels = np.random.default_rng(2).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "secret-label")
    Image.fromarray(pixels).save(tmp_path / "a.png", pnginfo=info)
    (tmp_path / "a.png").write_bytes((tmp_path / "a.png").read_bytes() + b"secret-label trailer")
    exif = Image.Exif()
    exif[0x010E] = "secret-label"
    Image.fromarray(pixels).save(tmp_path / "b.jpg", exif=exif, comment=b"secret-label")
    Image.fromarray(pixels).save(tmp_path / "c.tif", description="secret-label")
    for name, suffix in (("a.png", ".png"), ("b.jpg", ".jpg"), ("c.tif", ".png")):
        out = copy_image_clean(tmp_path / name, tmp_path / f"p-{name[0]}", read)
        assert out.suffix == suffix and b"secret-label" not in out.read_bytes()
        assert np.array_equal(read(out), read(tmp_path / name))
    rotated = Image.Exif()
    rotated[0x0112] = 6  # rotate 90° on display: OpenCV's reader applies it
    Image.fromarray(pixels).save(tmp_path / "d.jpg", exif=rotated)
    with pytest.raises(HarnessError, match="decodes differently"):
        copy_image_clean(tmp_path / "d.jpg", tmp_path / "p-d", read)
    assert not (tmp_path / "p-d.jpg").exists()
