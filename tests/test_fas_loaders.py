"""MMDG-benchmark list loader on a tiny fixture written in the real layout (fas.md §1.2–§1.3)."""
from __future__ import annotations

from pathlib import Path

import _fas_fixtures as fx
import numpy as np
import pytest

from harness.errors import HarnessError
from harness.families.fas import data

SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("fas")
    return root, fx.write_benchmark(root)


def _list(root: Path, d: str, split: str) -> Path:
    return root / "MMDG-Benchmark" / f"{d}-{split}.txt"


@pytest.mark.parametrize("domain", sorted(data.DOMAINS))
@pytest.mark.parametrize("split", SPLITS)
def test_read_back_every_list(bench, domain, split):
    root, expected = bench
    lines = expected[domain, split]
    samples, rep = data.read_list(root, domain, split)
    assert rep.n_lines == len(lines) == len(samples) == rep.n_samples
    assert rep.missing_files == 0 and rep.dropped == 0 and rep.checked_files
    assert rep.n_real == sum(l.label for l in lines)
    base = root / data.DOMAINS[domain]
    for s, l, no in zip(samples, lines, range(1, len(lines) + 1)):
        assert (s.sample_id, s.domain, s.label, s.line_no) == (l.sample_id, domain, l.label, no)
        assert s.video_id == l.video_id
        assert s.attack_type == l.attack_type
        keys = ("npz",) if domain == "P" else ("rgb", "depth", "ir")
        assert s.paths == {k: base / r for k, r in zip(keys, l.rels)}
        assert all(p.is_file() for p in s.paths.values())


def test_frames_carry_each_modality(bench):
    root, expected = bench
    for domain in data.DOMAINS:
        samples, _ = data.read_list(root, domain, "test")
        for s, l in zip(samples, expected[domain, "test"]):
            fr = data.load_frame(s)
            assert set(fr) == {"rgb", "depth", "ir"}
            assert fr["rgb"].shape == (fx.H, fx.W, 3) and fr["depth"].shape == fr["ir"].shape == (fx.H, fx.W, 1)
            assert all(a.dtype == np.uint8 for a in fr.values())
            tol = 0 if domain == "P" else 3                    # JPG is lossy; npz is exact
            np.testing.assert_allclose(fr["rgb"].reshape(-1, 3).mean(0), l.rgb, atol=tol)
            assert abs(fr["depth"].mean() - l.depth) <= tol and abs(fr["ir"].mean() - l.ir) <= tol


def test_wmca_attack_types_need_the_flexmodal_lists(bench, tmp_path):
    root, _ = bench
    samples, rep = data.read_list(root, "W", "test")
    assert rep.attack_types == {"replay": 3, "rigidmask": 3}
    assert [s.attack_type for s in samples if s.label == 1] == [None] * 3
    bare = tmp_path / "bare"
    fx.write_benchmark(bare, images=False, flexmodal=False)
    samples, rep = data.read_list(bare, "W", "test", check_files=False)
    assert {s.attack_type for s in samples} == {None} and rep.attack_types == {}


def test_flexmodal_list_with_bona_fide_line_is_refused(tmp_path):
    fx.write_benchmark(tmp_path, images=False)
    bad = tmp_path / "FlexModal_Protocols" / "WMCA_test_print.txt"
    bad.write_text("WMCA-Image/R_CDIT/a/color/0012.jpg WMCA-Image/R_CDIT/a/depth/0012.jpg "
                   "WMCA-Image/R_CDIT/a/ir/0012.jpg 1\n")
    with pytest.raises(HarnessError, match=r"WMCA_test_print\.txt: line 1: .*attacks only"):
        data.read_list(tmp_path, "W", "test", check_files=False)


def test_cefa_mask_types_and_depth_index_mismatch(bench):
    root, _ = bench
    _, rep = data.read_list(root, "C", "test")
    assert rep.attack_types == {"3D-Mask": 1, "Silicone-Mask": 1}
    w, _ = data.read_list(root, "W", "test")
    odd = [s for s in w if s.paths["rgb"].name != s.paths["depth"].name]
    assert len(odd) == 1 and odd[0].paths["depth"].name == "0013.jpg"   # taken from its own field


def test_duplicates_counted_kept_or_dropped(bench):
    root, expected = bench
    for d, n in (("S", 1), ("C", 1)):
        kept, rep = data.read_list(root, d, "test")
        assert rep.duplicates == n and len(kept) == len(expected[d, "test"])
        assert rep.duplicate_examples and "line" in rep.duplicate_examples[0]
        dropped, rep2 = data.read_list(root, d, "test", duplicates="drop")
        assert rep2.duplicates == n and rep2.dropped == n and len(dropped) == len(kept) - n
        assert len({s.sample_id for s in dropped}) == len(dropped)
    _, rep = data.read_list(root, "S", "train")
    assert rep.duplicates == 0


def test_conflicting_duplicate_is_refused(tmp_path):
    fx.write_benchmark(tmp_path, images=False)
    p = _list(tmp_path, "P", "test")
    first = p.read_text().splitlines()[1]
    p.write_text(p.read_text() + "\n" + first[:-1] + "1")
    with pytest.raises(HarnessError, match=r"P-test\.txt: line 4: .*already on line 2"):
        data.read_list(tmp_path, "P", "test", check_files=False)


def test_cval_ctest_overlap(bench):
    root, _ = bench
    val, rep_val = data.read_list(root, "C", "val")
    test, rep_test = data.read_list(root, "C", "test")
    shared = "CeFA/CeFA-Race/AF/AF-300/1_300_1_1_1"
    assert data.overlap(val, test) == [f"{shared}/profile/0026.jpg"]
    assert data.overlap_videos(val, test) == [shared]
    ov = rep_val.overlaps["test"]
    assert (ov.other, ov.ids, ov.videos, ov.first) == ("C-test.txt", 1, 1, [shared])
    assert rep_test.overlaps["val"].videos == 1 and rep_test.overlaps["train"].ids == 0
    assert "shares 1 id(s) / 1 video(s) with C-test.txt" in rep_val.summary()
    s_val, _ = data.read_list(root, "S", "val")
    s_test, _ = data.read_list(root, "S", "test")
    assert data.overlap(s_val, s_test) == []


def test_missing_files_fail_or_skip(tmp_path):
    expected = fx.write_benchmark(tmp_path)
    lines = expected["W", "val"]
    (tmp_path / "wmca" / lines[4].rels[1]).unlink()          # a depth frame
    (tmp_path / "wmca" / lines[7].rels[2]).unlink()          # an IR frame
    with pytest.raises(HarnessError) as e:
        data.read_list(tmp_path, "W", "val")
    msg = str(e.value)
    assert "W-val.txt" in msg and "2 of 12" in msg and "line 5:" in msg and lines[4].rels[1] in msg
    samples, rep = data.read_list(tmp_path, "W", "val", missing="skip")
    assert len(samples) == 10 and rep.missing_files == 2 and rep.dropped == 2
    assert [x.split(":")[0] for x in rep.missing_examples] == ["line 5", "line 8"]
    (tmp_path / "padisi" / expected["P", "test"][0].rels[0]).unlink()
    with pytest.raises(HarnessError, match=r"P-test\.txt: 1 of 3 .*\.npz"):
        data.read_list(tmp_path, "P", "test")


def test_check_files_false_needs_no_images(tmp_path):
    expected = fx.write_benchmark(tmp_path, images=False)
    for d in data.DOMAINS:
        samples, rep = data.read_list(tmp_path, d, "test", check_files=False)
        assert [s.sample_id for s in samples] == [l.sample_id for l in expected[d, "test"]]
        assert not rep.checked_files and rep.missing_files == 0
    with pytest.raises(HarnessError, match="missing files"):
        data.read_list(tmp_path, "C", "test")


@pytest.mark.parametrize("domain,line,pattern", [
    ("C", "a/profile/1.jpg a/depth/1.jpg 1", r"line 3: expected 4 fields .* got 3"),
    ("W", "a/color/1.jpg a/depth/1.jpg a/ir/1.jpg 2", r"line 3: label '2' is outside \{0, 1\}"),
    ("S", "a/color/1.jpg a/depth/1.jpg a/ir/1.jpg real", r"line 3: label 'real' is not an integer"),
    ("S", "a/color/1.jpg a/depth/1.jpg a/ir/1.jpg 1.0", r"line 3: label '1.0' is not an integer"),
    ("P", "0000abcd.npz\t1\textra", r"line 3: expected 2 fields '<name>.npz<TAB>label', got 3"),
    ("P", "0000abcd.png\t1", r"line 3: expected a '\.npz' name"),
    ("W", "/abs/color/1.jpg a/depth/1.jpg a/ir/1.jpg 1", r"line 3: path '/abs/color/1.jpg' must be relative"),
])
def test_bad_lines_name_file_and_line(tmp_path, domain, line, pattern):
    fx.write_benchmark(tmp_path, images=False)
    p = _list(tmp_path, domain, "val")
    rows = p.read_text().splitlines()
    p.write_text("\n".join(rows[:2] + [line] + rows[2:]))
    with pytest.raises(HarnessError, match=rf"{domain}-val\.txt: {pattern}"):
        data.read_list(tmp_path, domain, "val", check_files=False)


def test_blank_lines_crlf_and_tabs_are_tolerated(tmp_path):
    fx.write_benchmark(tmp_path, images=False)
    p = _list(tmp_path, "S", "train")
    rows = p.read_text().splitlines()
    p.write_bytes(("\r\n".join([rows[0].replace(" ", "\t"), ""] + rows[1:]) + "\r\n\n").encode())
    samples, rep = data.read_list(tmp_path, "S", "train", check_files=False)
    assert rep.n_lines == len(rows) and [s.line_no for s in samples][:2] == [1, 3]


def test_empty_and_missing_lists(tmp_path):
    fx.write_benchmark(tmp_path, images=False)
    _list(tmp_path, "W", "train").write_text("\n  \n")
    with pytest.raises(HarnessError, match=r"W-train\.txt: empty list file"):
        data.read_list(tmp_path, "W", "train", check_files=False)
    with pytest.raises(HarnessError, match=r"MMDG-Benchmark/C-train\.txt: list file not found; expected layout: MMDG-Benchmark"):
        data.read_list(tmp_path / "nowhere", "C", "train")
    with pytest.raises(HarnessError, match="unknown FAS domain 'X'"):
        data.read_list(tmp_path, "X", "train")
    with pytest.raises(HarnessError, match="Did you mean 'test'"):
        data.read_list(tmp_path, "C", "tset")
    with pytest.raises(HarnessError, match="duplicates must be"):
        data.read_list(tmp_path, "C", "test", duplicates="remove")


def test_unreadable_image_and_corrupt_npz(tmp_path):
    fx.write_benchmark(tmp_path)
    c, _ = data.read_list(tmp_path, "C", "train")
    c[0].paths["ir"].write_bytes(b"not a jpeg")
    with pytest.raises(HarnessError, match=r"ir/0026\.jpg: cannot read ir image"):
        data.load_frame(c[0])
    p, _ = data.read_list(tmp_path, "P", "train")
    p[0].paths["npz"].write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(HarnessError, match=r"00000000\.npz: cannot read npz"):
        data.load_frame(p[0])
    np.savez(p[1].paths["npz"], other=np.zeros(3))
    with pytest.raises(HarnessError, match=r"00000001\.npz: npz has no 'data' array"):
        data.load_frame(p[1])
    np.savez(p[2].paths["npz"], data=np.zeros((1, 3, 4, 4)))
    with pytest.raises(HarnessError, match=r"00000002\.npz: 'data' has shape \(1, 3, 4, 4\)"):
        data.load_frame(p[2])
    np.savez(p[2].paths["npz"], data=np.full((1, 5, 4, 4), 200.0))
    with pytest.raises(HarnessError, match=r"expected \[0, 1\]"):
        data.load_frame(p[2])
    c[1].paths["rgb"].unlink()
    with pytest.raises(HarnessError, match=r"profile/0051\.jpg: rgb image not found"):
        data.load_frame(c[1])


def test_npz_channel_layout(tmp_path):
    fx.write_benchmark(tmp_path, images=False)
    x = np.zeros((1, 5, 2, 3))
    for c, v in enumerate((10, 20, 30, 40, 50)):
        x[0, c] = (v - 0.5) / 255.0                  # ceil(x*255) gives v back
    (tmp_path / "padisi").mkdir()
    np.savez(tmp_path / "padisi" / "00000020.npz", data=x)
    samples, _ = data.read_list(tmp_path, "P", "test", missing="skip")
    assert [s.sample_id for s in samples] == ["00000020.npz"]
    fr = data.load_frame(samples[0])
    assert fr["rgb"][0, 0].tolist() == [10, 20, 30]
    assert fr["ir"].shape == (2, 3, 1) and int(fr["ir"][0, 0, 0]) == 40    # channel 3
    assert int(fr["depth"][0, 0, 0]) == 50                                  # channel 4


def test_mismatched_modality_sizes(tmp_path):
    fx.write_benchmark(tmp_path)
    s, _ = data.read_list(tmp_path, "S", "val")
    fx.write_jpg(s[0].paths["depth"], 77, h=12, w=10)
    with pytest.raises(HarnessError, match=r"color/31\.jpg: modalities differ in size \(rgb 8x6, depth 10x12, ir 8x6; line 1\)"):
        data.load_frame(s[0])
    fr = data.load_frame(s[0], size=16)
    assert fr["rgb"].shape == (16, 16, 3) and fr["depth"].shape == fr["ir"].shape == (16, 16, 1)
    assert abs(int(fr["depth"].mean()) - 77) <= 3
    with pytest.raises(HarnessError, match="size must be a positive integer"):
        data.load_frame(s[0], size=0)


def test_report_summary_and_expected_counts(bench):
    root, _ = bench
    _, rep = data.read_list(root, "S", "test")
    assert rep.expected_lines == 12564
    text = rep.summary()
    assert text.startswith("S-test.txt: 5 samples (3 real, 2 attack) from 5 lines")
    assert "released list has 12564 lines" in text and "1 duplicate line(s)" in text
    assert data.list_path(root, "s", "TEST") == root / "MMDG-Benchmark" / "S-test.txt"
    assert "MMDG-Benchmark" in data.LAYOUT
