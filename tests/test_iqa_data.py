"""NR-IQA loaders (harness.families.iqa_backdoor.data): release layouts, MOS mapping, meta_info.csv,
splits and errors naming the file and row."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from harness.errors import HarnessError
from harness.families.iqa_backdoor import data, synth


@pytest.fixture(scope="module")
def sample(family_sample):
    return family_sample("iqa_backdoor")  # the session's sample: synth.synthesize(root, seed=0)


@pytest.fixture
def copy(sample, tmp_path):
    """A writable copy of one synthetic dataset: copy("koniq") -> root."""
    def make(ds: str) -> Path:
        shutil.copytree(sample / ds, tmp_path / ds)
        return tmp_path
    return make


def _png(path: Path, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)


def _livec(root: Path, names: list[str], mos: list, make_images: bool = True) -> Path:
    folder = root / "livec"
    cells = np.empty((len(names), 1), dtype=object)
    for k, n in enumerate(names):
        cells[k, 0] = n
        if make_images:
            _png(folder / "Images" / n)
    (folder / "Data").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(folder / "Data/AllImages_release.mat", {"AllImages_release": cells})
    scipy.io.savemat(folder / "Data/AllMOS_release.mat", {"AllMOS_release": np.array([mos], dtype=float)})
    return root


N = synth.N_IMAGES                            # images per dataset in the synthetic sample (KADID: refs x per ref)
assert synth.KADID_REFS * synth.KADID_PER_REF == N


def _train_count(n: int) -> int:
    """round(TRAIN_FRACTION * n), halves up: how many of n items (or reference groups) go to train."""
    return int(data.TRAIN_FRACTION * n + 0.5)


def _err(fn, *args, **kw) -> str:
    with pytest.raises(HarnessError) as e:
        fn(*args, **kw)
    return str(e.value)


# ------------------------------------------------------------------------------------- synth sample
def test_scan_synth_counts_and_scales(sample):
    for ds in data.DATASETS:
        recs = data.scan(sample, ds)
        assert len(recs) == N
        assert all(r.dataset == ds and r.image.is_file() and 1 <= r.mos <= 100 for r in recs)
        assert {r.split for r in recs} == {"train", "test"}
        assert len(data.select(recs, "all")) == N
        assert len(data.select(recs, "train")) + len(data.select(recs, "test")) == N
    img = data.read_image(data.scan(sample, "kadid")[0].image)
    assert img.shape == (72, 96, 3) and img.dtype == np.uint8


def test_livec_skips_first_seven(sample):
    recs = data.scan(sample, "livec")
    assert not any(r.sample_id.startswith("t") for r in recs)
    assert sorted(int(r.sample_id) for r in recs) == list(range(1, N + 1))
    mos = scipy.io.loadmat(sample / "livec/Data/AllMOS_release.mat")["AllMOS_release"][0]
    by_id = {r.sample_id: r for r in recs}
    assert by_id["1"].raw_mos == by_id["1"].mos == pytest.approx(mos[7])
    assert len(data.select(recs, "train")) == _train_count(N) == 120   # round(0.8 * 150)


def test_livec_skip_rule_on_hand_written_mat(tmp_path):
    names = [f"trainingImages/t{i}.bmp" for i in range(1, 8)] + ["a.png", "b.png"]
    _livec(tmp_path, names, [50.0] * 7 + [12.5, 87.0])
    recs = data.scan(tmp_path, "livec")
    assert [(r.sample_id, r.mos) for r in recs] == [("a", 12.5), ("b", 87.0)]
    _livec(tmp_path, names[:7], [50.0] * 7)
    assert "first 7" in _err(data.scan, tmp_path, "livec")


def test_koniq_and_kadid_mapping(sample):
    import csv

    with open(sample / "koniq/koniq10k_scores_and_distributions.csv", newline="") as f:
        koniq = {Path(r["image_name"]).stem: float(r["MOS"]) for r in csv.DictReader(f)}
    for r in data.scan(sample, "koniq"):
        assert r.raw_mos == koniq[r.sample_id]
        assert r.mos == pytest.approx((r.raw_mos - 1) * 99 / 4 + 1)
    with open(sample / "kadid/dmos.csv", newline="") as f:
        kadid = {Path(r["dist_img"]).stem: float(r["dmos"]) for r in csv.DictReader(f)}
    for r in data.scan(sample, "kadid"):
        assert r.raw_mos == kadid[r.sample_id]
        assert r.mos == pytest.approx((r.raw_mos - 1) * 99 / 4 + 1)
    assert data.to_100("kadid", 1) == 1 and data.to_100("koniq", 5) == 100 and data.to_100("livec", 42) == 42


def test_koniq_falls_back_to_1024(copy):
    root = copy("koniq")
    (root / "koniq/512x384").rename(root / "koniq/1024x768")
    assert all(r.image.parent.name == "1024x768" for r in data.scan(root, "koniq"))


# ------------------------------------------------------------------------------------------- splits
def test_kadid_split_keeps_references_together(sample):
    recs = data.scan(sample, "kadid")
    side: dict[str, set] = {}
    for r in recs:
        side.setdefault(r.sample_id.split("_")[0], set()).add(r.split)
    assert all(len(s) == 1 for s in side.values())
    assert len(side) == synth.KADID_REFS
    assert sum(s == {"train"} for s in side.values()) == _train_count(synth.KADID_REFS) == 24  # round(0.8 * 30) refs


def test_seeded_split_rule_and_determinism(sample, copy):
    names = [f"img{i}" for i in range(10)]
    order = np.random.default_rng(0).permutation(10)
    expected = {sorted(names)[k]: ("train" if rank < 8 else "test") for rank, k in enumerate(order)}
    assert data.seeded_split(reversed(names)) == expected
    a = data.scan(sample, "koniq")
    assert a == data.scan(sample, "koniq")
    root = copy("koniq")                                              # row order does not matter
    csv_path = root / "koniq/koniq10k_scores_and_distributions.csv"
    head, *rows = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join([head, *rows[::-1]]) + "\n")
    assert {r.sample_id: r.split for r in data.scan(root, "koniq")} == {r.sample_id: r.split for r in a}


def test_select_and_unknown_names(sample):
    recs = data.scan(sample, "livec")
    assert "IQA split" in _err(data.select, recs, "val")
    assert "livec" in _err(data.scan, sample, "live")
    assert "not found" in _err(data.scan, sample.parent / "nowhere", "koniq")


# ------------------------------------------------------------------------------------ meta_info.csv
def test_meta_info_takes_precedence_with_official_split(copy):
    root = copy("koniq")
    imgs = sorted((root / "koniq/512x384").iterdir())[:4]
    lines = ["image_name,MOS,std,official_split"]
    for img, mos, split in zip(imgs, ("1", "5", "3.5", "2"), ("train", "val", "test", "test"), strict=True):
        lines.append(f"512x384/{img.name},{mos},0.5,{split}")
    (root / "koniq/meta_info.csv").write_text("\n".join(lines) + "\n")
    recs = {r.sample_id: r for r in data.scan(root, "koniq")}
    assert len(recs) == 4
    got = [(recs[i.stem].mos, recs[i.stem].raw_mos, recs[i.stem].split) for i in imgs]
    assert got == [(1.0, 1.0, "train"), (100.0, 5.0, "train"), (pytest.approx(62.875), 3.5, "test"), (pytest.approx(25.75), 2.0, "test")]


def test_meta_info_ratio_split_column_and_choice(tmp_path):
    folder = tmp_path / "livec"
    for n in ("a", "b", "c"):
        _png(folder / f"img/{n}.png")
    (folder / "meta_info.csv").write_text(
        "name,mos,std,ratio802_seed123_split_01,ratio802_seed123_split_02\n"
        "img/a.png,10,1,train,test\nimg/b.png,20,1,test,train\nimg/c.png,99.5,1,train,train\n")
    recs = data.scan(tmp_path, "livec")
    assert [(r.sample_id, r.mos, r.split) for r in recs] == [("a", 10, "train"), ("b", 20, "test"), ("c", 99.5, "train")]
    recs = data.scan(tmp_path, "livec", split_column="ratio802_seed123_split_02")
    assert [r.split for r in recs] == ["test", "train", "train"]
    assert "split column" in _err(data.scan, tmp_path, "livec", split_column="official_split")
    (folder / "meta_info.csv").write_text("name,mos\nimg/a.png,10\nimg/b.png,20\nimg/c.png,30\n")
    assert [r.mos for r in data.scan(tmp_path, "livec")] == [10, 20, 30]            # seeded split
    (folder / "meta_info.csv").write_text("name,mos,official_split\nimg/a.png,10,holdout\n")
    msg = _err(data.scan, tmp_path, "livec")
    assert "meta_info.csv" in msg and "line 2" in msg and "holdout" in msg


def test_meta_info_kadid_groups_by_reference(tmp_path):
    folder = tmp_path / "kadid"
    lines = ["ref_name,dist_name,mos,std"]
    for ref in range(1, 11):
        for dist in range(1, 4):
            name = f"I{ref:02d}_{dist:02d}_01.png"
            _png(folder / "images" / name)
            lines.append(f"images/I{ref:02d}.png,images/{name},{1 + dist},0.1")
    (folder / "meta_info.csv").write_text("\n".join(lines) + "\n")
    recs = data.scan(tmp_path, "kadid")
    assert len(recs) == 30 and recs[0].raw_mos == 2 and recs[0].mos == pytest.approx(25.75)
    side: dict[str, set] = {}
    for r in recs:
        side.setdefault(r.sample_id[:3], set()).add(r.split)
    assert all(len(s) == 1 for s in side.values()) and sum(s == {"train"} for s in side.values()) == 8
    (folder / "meta_info.csv").write_text("name,mos\n" + "".join(l.split(",")[1] + ",3\n" for l in lines[1:]))
    assert [r.split for r in data.scan(tmp_path, "kadid")] == [r.split for r in recs]   # group from name


# ------------------------------------------------------------------------------------------- errors
def test_missing_files(copy, tmp_path):
    root = copy("livec")
    (root / "livec/Data/AllMOS_release.mat").unlink()
    msg = _err(data.scan, root, "livec")
    assert "AllMOS_release.mat" in msg and "not found" in msg
    _livec(tmp_path / "x", ["t.png"] * 7 + ["ok.png", "gone.png"], [50] * 9, make_images=False)
    _png(tmp_path / "x/livec/Images/ok.png")
    msg = _err(data.scan, tmp_path / "x", "livec")
    assert "AllImages_release.mat" in msg and "entry 9" in msg and "gone.png" in msg
    root2 = tmp_path / "y"
    (root2 / "kadid").mkdir(parents=True)
    assert "dmos.csv" in _err(data.scan, root2, "kadid")


def test_corrupt_mat(copy):
    root = copy("livec")
    (root / "livec/Data/AllImages_release.mat").write_bytes(b"not a mat file")
    assert "AllImages_release.mat" in _err(data.scan, root, "livec")


def test_bad_mos_values(copy, tmp_path):
    root = copy("kadid")
    path = root / "kadid/dmos.csv"
    lines = path.read_text().splitlines()
    good = lines[3]
    for bad, words in (("abc", "not a number"), ("nan", "finite"), ("", "not a number"), ("7.5", "native range")):
        cells = good.split(",")
        cells[2] = bad
        lines[3] = ",".join(cells)
        path.write_text("\n".join(lines) + "\n")
        msg = _err(data.scan, root, "kadid")
        assert "dmos.csv" in msg and "line 4" in msg and words in msg, msg
    _livec(tmp_path, [f"t{i}.png" for i in range(7)] + ["a.png"], [50] * 7 + [np.nan])
    msg = _err(data.scan, tmp_path, "livec")
    assert "AllMOS_release.mat" in msg and "entry 8" in msg


def test_missing_image_and_columns(copy):
    root = copy("koniq")
    path = root / "koniq/koniq10k_scores_and_distributions.csv"
    lines = path.read_text().splitlines()
    lines.append('"missing.jpg",0,0,100,0,0,100,3.0,0.1,50.0')
    path.write_text("\n".join(lines) + "\n")
    msg = _err(data.scan, root, "koniq")
    line = f"line {N + 2}"                                   # header on line 1, N rows, then the added one
    assert "koniq10k_scores_and_distributions.csv" in msg and line in msg and "missing.jpg" in msg, msg
    path.write_text("image_name,score\n")
    assert "MOS" in _err(data.scan, root, "koniq")


def test_duplicates_and_unsafe_paths(tmp_path):
    folder = tmp_path / "koniq"
    _png(folder / "a/x.png")
    _png(folder / "b/x.png")
    (folder / "meta_info.csv").write_text("name,mos\na/x.png,3\nb/x.png,4\n")
    msg = _err(data.scan, tmp_path, "koniq")
    assert "line 3" in msg and "line 2" in msg and "'x'" in msg
    (folder / "meta_info.csv").write_text("name,mos\n../koniq/a/x.png,3\n")
    assert "'..'" in _err(data.scan, tmp_path, "koniq")


def test_fingerprint_tracks_score_files(copy):
    root = copy("kadid")
    recs = data.scan(root, "kadid")
    fp = data.fingerprint(root, recs)
    assert fp == data.fingerprint(root, recs) and len(fp) == 16
    path = root / "kadid/dmos.csv"
    path.write_text(path.read_text().replace(",4.", ",3.", 1))
    assert data.fingerprint(root, data.scan(root, "kadid")) != fp
