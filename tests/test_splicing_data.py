"""Splicing data: the core's safe decoding (harness.images), Tp/Gt/Au and list.json layouts, subsets, the SciSp split."""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from harness import images
from harness.errors import HarnessError
from harness.families.splicing import data as sd


def save(path: Path, array_or_image, fmt: str | None = None, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    im.save(path, fmt, **kw)
    return path


def rgb(h=4, w=5, value=(10, 20, 30)) -> np.ndarray:
    return np.broadcast_to(np.array(value, np.uint8), (h, w, 3)).copy()


def png_bytes(im: Image.Image) -> bytes:
    b = io.BytesIO()
    im.save(b, "PNG")
    return b.getvalue()


def folder_dataset(root: Path, tp: list[str], gt: list[str], au: list[str] = (), name="casia1") -> Path:
    d = root / name
    for f in tp:
        save(d / "Tp" / f, rgb())
    for f in gt:
        save(d / "Gt" / f, np.zeros((4, 5), np.uint8))
    for f in au:
        save(d / "Au" / f, rgb())
    return d


# ------------------------------------------------------------------------------------- layout A
def test_pairing_by_name_not_sort_order(tmp_path):
    # sorted masks: a_mask, b_gt, c; sorted images: a, b, c — but also names whose orders differ:
    # image "x10" vs "x9": mask "x10_gt" sorts before "x9-mask" and "x9" < "x10" naturally.
    tp = ["b.png", "a.jpg", "c.tif", "x9.png", "x10.png"]
    gt = ["a_mask.png", "b_gt.png", "c.png", "x10_GT.png", "x9-mask.bmp"]
    d = folder_dataset(tmp_path, tp, gt, au=["au2.png", "au10.JPG"])
    (d / "Tp" / "notes.txt").write_text("ignored")
    (d / "Gt" / ".hidden.png").write_bytes(b"junk")
    recs = sd.scan(tmp_path, "casia1")
    by = {r.sample_id: r for r in recs}
    assert by["a"].mask.name == "a_mask.png" and by["b"].mask.name == "b_gt.png"
    assert by["c"].mask.name == "c.png"
    assert by["x9"].mask.name == "x9-mask.bmp" and by["x10"].mask.name == "x10_GT.png"
    assert [r.sample_id for r in recs] == ["a", "au2", "au10", "b", "c", "x9", "x10"]  # natural order
    assert by["au10"].mask is None and by["au10"].label == 0 and by["a"].label == 1
    assert all(r.dataset == "casia1" and r.subset == "" for r in recs)


def test_edgemask_suffix_columbia_style(tmp_path):
    folder_dataset(tmp_path, ["canong3_sub_01.tif"], ["canong3_sub_01_edgemask.jpg"], name="columbia")
    (r,) = sd.scan(tmp_path, "columbia")
    assert r.mask.name == "canong3_sub_01_edgemask.jpg"


def test_unmatched_image_named(tmp_path):
    folder_dataset(tmp_path, ["a.png", "lonely.png"], ["a_gt.png"])
    with pytest.raises(HarnessError, match="no mask") as e:
        sd.scan(tmp_path, "casia1")
    assert "lonely.png" in str(e.value)


def test_unmatched_mask_named(tmp_path):
    folder_dataset(tmp_path, ["a.png"], ["a_gt.png", "orphan_gt.png"])
    with pytest.raises(HarnessError, match="no tampered image") as e:
        sd.scan(tmp_path, "casia1")
    assert "orphan_gt.png" in str(e.value)


def test_ambiguous_masks_named(tmp_path):
    folder_dataset(tmp_path, ["a.png"], ["a_gt.png", "a_mask.png"])
    with pytest.raises(HarnessError, match="more than one mask") as e:
        sd.scan(tmp_path, "casia1")
    assert "a_gt.png" in str(e.value) and "a_mask.png" in str(e.value)


def test_mask_matching_two_images_refused(tmp_path):
    folder_dataset(tmp_path, ["a.png", "a_gt.png"], ["a_gt.png", "a_gt_gt.png"])
    with pytest.raises(HarnessError, match="more than one tampered image") as e:
        sd.scan(tmp_path, "casia1")
    assert "a_gt.png" in str(e.value)


def test_duplicate_stems_refused(tmp_path):
    folder_dataset(tmp_path, ["a.png", "a.jpg"], ["a_gt.png"])
    with pytest.raises(HarnessError, match="share the sample id") as e:
        sd.scan(tmp_path, "casia1")
    assert "a.png" in str(e.value) and "a.jpg" in str(e.value)
    folder_dataset(tmp_path, ["b.png"], ["b_gt.png"], au=["b.png"], name="other")
    with pytest.raises(HarnessError, match="share the sample id") as e:
        sd.scan(tmp_path, "other")
    assert "Au/b.png" in str(e.value) and "Tp/b.png" in str(e.value)


def test_missing_layout_explains(tmp_path):
    (tmp_path / "scisp").mkdir()
    with pytest.raises(HarnessError, match="list.json") as e:
        sd.scan(tmp_path, "scisp")
    assert sd.LAYOUT in str(e.value)
    with pytest.raises(HarnessError, match="not found"):
        sd.scan(tmp_path, "nope")


# ------------------------------------------------------------------------------------- layout B
def test_list_json_with_negative(tmp_path):
    d = tmp_path / "coverage"
    save(d / "img" / "1t.tif", rgb())
    save(d / "img" / "1.tif", rgb())
    save(d / "mask" / "1forged.tif", np.zeros((4, 5), np.uint8))
    (d / "list.json").write_text(json.dumps([["img/1t.tif", "mask/1forged.tif"], ["img/1.tif", "Negative"]]))
    folder_dataset(tmp_path, ["zzz.png"], [], name="coverage")  # Tp/ present too: list.json wins
    recs = sd.scan(tmp_path, "coverage")
    assert [(r.sample_id, r.label, r.mask and r.mask.name) for r in recs] == [("1", 0, None), ("1t", 1, "1forged.tif")]


@pytest.mark.parametrize("content, match", [
    ("[[", "not valid JSON"),
    ('{"a": "b"}', "JSON list"),
    ('[["img/a.png"]]', "entry 0"),
    ('[["img/a.png", "Negative"], "x"]', "entry 1"),
    ('[["img/missing.png", "Negative"]]', "entry 0.*not found"),
    ('[["/etc/passwd", "Negative"]]', "entry 0.*absolute"),
    ('[["img/a.png", "../outside.png"]]', r"entry 0.*'\.\.'"),
    ('[["img/a.png", 3]]', "entry 0"),
])
def test_bad_list_json(tmp_path, content, match):
    d = tmp_path / "ds"
    save(d / "img" / "a.png", rgb())
    save(tmp_path / "outside.png", rgb())
    (d / "list.json").write_text(content)
    with pytest.raises(HarnessError, match=match) as e:
        sd.scan(tmp_path, "ds")
    assert "list.json" in str(e.value)


# ---------------------------------------------------------------------------------------- subsets
def test_subsets_csv(tmp_path):
    d = folder_dataset(tmp_path, ["p1.png", "h2.png", "x.png"], ["p1_gt.png", "h2_gt.png", "x_gt.png"], name="scisp")
    (d / "subsets.csv").write_text("id,subset\np1,C\nh2,H\n")
    by = {r.sample_id: r.subset for r in sd.scan(tmp_path, "scisp")}
    assert by == {"p1": "C", "h2": "H", "x": ""}
    (d / "subsets.csv").write_text("id,subset\np1,C\nnot_an_image,H\n")
    with pytest.raises(HarnessError, match="line 3.*not_an_image") as e:
        sd.scan(tmp_path, "scisp")
    assert "subsets.csv" in str(e.value)
    (d / "subsets.csv").write_text("name,part\np1,C\n")
    with pytest.raises(HarnessError, match="header"):
        sd.scan(tmp_path, "scisp")
    (d / "subsets.csv").write_text("id,subset\np1,C\np1,H\n")
    with pytest.raises(HarnessError, match="twice"):
        sd.scan(tmp_path, "scisp")


# -------------------------------------------------------------------------------- split / select
def test_split_of_deterministic_and_about_20_percent():
    ids = [f"img_{i:04d}" for i in range(1000)]
    first = [sd.split_of(i) for i in ids]
    assert first == [sd.split_of(i) for i in ids]
    assert set(first) == {"train", "test"}
    assert 150 <= first.count("test") <= 250
    import hashlib
    assert sd.split_of("abc") == ("test" if int(hashlib.sha256(b"abc").hexdigest(), 16) % 5 == 0 else "train")


def test_select(tmp_path):
    folder_dataset(tmp_path, [f"t{i}.png" for i in range(12)], [f"t{i}_gt.png" for i in range(12)],
                   au=[f"a{i}.png" for i in range(6)])
    recs = sd.scan(tmp_path, "casia1")
    assert len(sd.select(recs, "all")) == 18
    assert {r.label for r in sd.select(recs, "tampered")} == {1} and len(sd.select(recs, "authentic")) == 6
    train, test = sd.select(recs, "train"), sd.select(recs, "test")
    assert len(train) + len(test) == 18 and not {r.sample_id for r in train} & {r.sample_id for r in test}
    with pytest.raises(HarnessError, match="split"):
        sd.select(recs, "val")


def test_fingerprint_changes_with_files(tmp_path):
    d = folder_dataset(tmp_path, ["a.png"], ["a_gt.png"], name="scisp")
    fp = sd.fingerprint(tmp_path, sd.scan(tmp_path, "scisp"))
    assert len(fp) == 16 and fp == sd.fingerprint(tmp_path, sd.scan(tmp_path, "scisp"))
    (d / "subsets.csv").write_text("id,subset\na,C\n")
    fp2 = sd.fingerprint(tmp_path, sd.scan(tmp_path, "scisp"))
    (d / "subsets.csv").write_text("id,subset\na,H\n")
    fp3 = sd.fingerprint(tmp_path, sd.scan(tmp_path, "scisp"))
    assert len({fp, fp2, fp3}) == 3


# --------------------------------------------------------------------------------------- decoding
def test_read_image_modes(tmp_path):
    a = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    assert np.array_equal(images.read_image(save(tmp_path / "x.png", a)), a)
    rgba = np.dstack([a, np.full((4, 5), 7, np.uint8)])
    out = images.read_image(save(tmp_path / "rgba.png", rgba))
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8 and np.array_equal(out, a)
    g = a[:, :, 0]
    assert np.array_equal(images.read_image(save(tmp_path / "g.tif", g)), np.dstack([g] * 3))
    la = Image.fromarray(np.dstack([g, g]), "LA")
    assert np.array_equal(images.read_image(save(tmp_path / "la.png", la)), np.dstack([g] * 3))
    pal = Image.fromarray(a).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    assert np.array_equal(images.read_image(save(tmp_path / "p.png", pal)), np.asarray(pal.convert("RGB")))
    sixteen = (g.astype(np.uint16) << 8) | 0xFF
    assert np.array_equal(images.read_image(save(tmp_path / "16.png", sixteen))[:, :, 1], g)
    i32 = Image.fromarray(sixteen.astype(np.int32))
    assert np.array_equal(images.read_image(save(tmp_path / "i.tif", i32))[:, :, 2], g)
    bad_i = Image.fromarray(np.array([[70000, 0]], np.int32))
    with pytest.raises(HarnessError, match="0..65535"):
        images.read_image(save(tmp_path / "i_bad.tif", bad_i))
    cmyk = Image.new("CMYK", (3, 2), (0, 255, 255, 0))
    assert tuple(images.read_image(save(tmp_path / "c.tif", cmyk))[0, 0]) == (255, 0, 0)
    bi = Image.fromarray(np.array([[0, 255]], np.uint8)).convert("1")
    assert images.read_image(save(tmp_path / "b.bmp", bi))[0].tolist() == [[0, 0, 0], [255, 255, 255]]
    with pytest.raises(HarnessError, match="unsupported image mode 'F'") as e:
        images.read_image(save(tmp_path / "f.tif", Image.new("F", (2, 2))))
    assert "f.tif" in str(e.value)
    jpg = save(tmp_path / "j.jpg", a, quality=95)
    assert images.read_image(jpg).shape == (4, 5, 3) and images.image_size(jpg) == (4, 5)


def test_read_mask_binarisation(tmp_path):
    m = np.zeros((2, 3, 3), np.uint8)
    m[0, 0] = (255, 255, 0)    # mean 170 -> 1
    m[0, 1] = (255, 0, 0)      # mean 85 -> 0
    m[0, 2] = (128, 127, 128)  # mean 127.67 -> 1
    m[1, 0] = (128, 127, 127)  # mean 127.33 -> 0
    m[1, 1] = (255, 255, 255)
    out = sd.read_mask(save(tmp_path / "m.png", m))
    assert out.dtype == bool and out.tolist() == [[True, False, True], [False, True, False]]
    g = np.array([[127, 128, 0, 255]], np.uint8)
    assert sd.read_mask(save(tmp_path / "g.png", g)).tolist() == [[False, True, False, True]]
    # 16-bit: clipped to 255 as IMDL-BenCo's loader (Pillow convert("RGB"), mean > 127.5) does, not >> 8
    sixteen = np.array([[0, 1, 127, 128, 255, 32767, 32768, 65535]], np.uint16)
    path = save(tmp_path / "16.png", sixteen)
    expected = [[False, False, False, True, True, True, True, True]]
    assert sd.read_mask(path).tolist() == expected
    with Image.open(path) as im:  # the loader's own rule, run by Pillow
        assert (np.asarray(im.convert("RGB"), float).mean(axis=2) > 127.5).tolist() == expected
    pal = Image.new("P", (2, 1))
    pal.putpalette([0, 0, 0, 255, 255, 0] + [0] * 762)
    pal.putpixel((1, 0), 1)
    assert sd.read_mask(save(tmp_path / "p.png", pal)).tolist() == [[False, True]]
    rgba = np.array([[[255, 255, 255, 0], [0, 0, 0, 255]]], np.uint8)  # alpha ignored
    assert sd.read_mask(save(tmp_path / "a.png", rgba)).tolist() == [[True, False]]


@pytest.mark.parametrize("fmt, suffix", [("PNG", ".png"), ("JPEG", ".jpg")])
def test_truncated_file_refused_with_name(tmp_path, fmt, suffix):
    a = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    b = io.BytesIO()
    Image.fromarray(a).save(b, fmt)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(b.getvalue()[: len(b.getvalue()) // 2])
    with pytest.raises(HarnessError, match="corrupt|truncated") as e:
        images.read_image(path)
    assert f"cut{suffix}" in str(e.value)
    garbage = tmp_path / f"garbage{suffix}"
    garbage.write_bytes(b"not an image at all")
    with pytest.raises(HarnessError) as e:
        sd.read_mask(garbage)
    assert f"garbage{suffix}" in str(e.value)
    with pytest.raises(HarnessError, match="cut.png"):
        sd.read_prediction_png(b.getvalue()[:200] if fmt == "PNG" else b"junk", "cut.png")


def test_large_header_refused_before_decoding(tmp_path, monkeypatch):
    big = save(tmp_path / "big.png", Image.new("1", (12000, 12000)))
    assert images.image_size(big) == (12000, 12000)
    saved = Image.MAX_IMAGE_PIXELS
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's own bomb warning would fail the test
        with pytest.raises(HarnessError, match=r"12000x12000 = 144 MP; the limit is 80 MP \(HARNESS_MAX_PIXELS\)") as e:
            images.read_image(big)
        assert "big.png" in str(e.value)
        with pytest.raises(HarnessError, match="the limit is 0.001 MP"):
            sd.read_mask(big, max_pixels=1000)
        monkeypatch.setenv("HARNESS_MAX_PIXELS", "5000")
        with pytest.raises(HarnessError, match="the limit is 0.005 MP"):
            sd.read_prediction_png(big.read_bytes(), "upload/big.png")
    assert decoded == [] and Image.MAX_IMAGE_PIXELS == saved
    monkeypatch.setenv("HARNESS_MAX_PIXELS", "lots")
    with pytest.raises(HarnessError, match="HARNESS_MAX_PIXELS"):
        images.max_pixels_limit()


def test_read_prediction_png_modes():
    v = np.array([[0, 1, 127, 128, 200, 255]], np.uint8)
    assert np.array_equal(sd.read_prediction_png(png_bytes(Image.fromarray(v)), "p.png"), v)
    sixteen = (v.astype(np.uint16) << 8) | 0x80
    assert np.array_equal(sd.read_prediction_png(png_bytes(Image.fromarray(sixteen)), "p.png"), v)
    rgb = np.dstack([v, v, v])
    assert np.array_equal(sd.read_prediction_png(png_bytes(Image.fromarray(rgb)), "p.png"), v)
    rgba = np.dstack([v, v, v, np.zeros_like(v)])
    assert np.array_equal(sd.read_prediction_png(png_bytes(Image.fromarray(rgba)), "p.png"), v)
    assert np.array_equal(sd.read_prediction_png(png_bytes(Image.fromarray(np.dstack([v, v]), "LA")), "p.png"), v)
    mixed = np.array([[[255, 0, 0], [255, 255, 0], [1, 1, 0]]], np.uint8)  # means 85, 170, 0.67
    assert sd.read_prediction_png(png_bytes(Image.fromarray(mixed)), "p.png").tolist() == [[85, 170, 1]]
    pal = Image.fromarray(v).convert("P")
    assert np.array_equal(sd.read_prediction_png(png_bytes(pal), "p.png"), v)
    bi = Image.fromarray(np.array([[0, 255, 0]], np.uint8)).convert("1")
    out = sd.read_prediction_png(png_bytes(bi), "p.png")
    assert out.dtype == np.uint8 and out.tolist() == [[0, 255, 0]]
    tif = io.BytesIO()
    Image.fromarray(v).save(tif, "TIFF")
    with pytest.raises(HarnessError, match="not a PNG") as e:
        sd.read_prediction_png(tif.getvalue(), "masks/x.png")
    assert "masks/x.png" in str(e.value)


def test_prediction_png_unsupported_mode(monkeypatch):
    data = png_bytes(Image.new("L", (2, 2)))
    real = images.decode_checked
    monkeypatch.setattr(sd, "decode_checked", lambda *a, **k: real(*a, **k).convert("F"))
    with pytest.raises(HarnessError, match="unsupported image mode 'F'") as e:
        sd.read_prediction_png(data, "weird.png")
    assert "weird.png" in str(e.value)
