"""Deception features: safe unpickling, organizer pickle → store conversion, FeatureStore, collate."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.families.deception import features as F

T_FACES, T_AU, SIDE, WAVE_LEN = 4, 6, 8, 400


def organizer_clip(rng: np.random.Generator, name: str, label: int | None, *, k: int | None = None,
                   drop: tuple[str, ...] = (), wave_len: int = WAVE_LEN) -> dict:
    """A clip dict as the organizers pickle it (float faces in [0, 1], float mel in [0, 255])."""
    lead = () if k is None else (k,)
    clip = {
        "video_x": rng.random((*lead, T_FACES, SIDE, SIDE, 3), dtype=np.float32),
        "OpenFace_x": rng.standard_normal((*lead, T_AU, 43)),
        "x_affect": rng.standard_normal((*lead, T_AU, 7)).astype(np.float32),
        "audio_x": (rng.random((*lead, SIDE, SIDE, 3)) * 255).astype(np.float32),
        "audio_wave": rng.standard_normal((*lead, wave_len)).astype(np.float32),
        "DD_label": label,
        "videoname": name,
    }
    for key in drop:
        clip[key] = None
    return clip


def organizer_clips(n: int = 5, **kw) -> list[dict]:
    rng = np.random.default_rng(0)
    return [organizer_clip(rng, f"trial_{'lie' if i % 2 else 'truth'}_{i:03d}", 1 - i % 2, **kw) for i in range(n)]


def dump(obj, path: Path, protocol: int = 4) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def expected_uint8(x: np.ndarray, unit: bool) -> np.ndarray:
    return np.clip(np.rint(x * 255.0 if unit else x), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- safe unpickling

class _OsSystem:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _Popen:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return subprocess.Popen, (["touch", str(self.marker)],)


class _Eval:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return eval, (f"open({str(self.marker)!r}, 'w').close()",)


@pytest.mark.parametrize("payload", [_OsSystem, _Popen, _Eval])
@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_malicious_pickle_refused_without_side_effect(tmp_path, payload, protocol):
    marker = tmp_path / "pwned"
    path = dump([{"videoname": "a", "x": payload(marker)}], tmp_path / "evil.pkl", protocol)
    with pytest.raises(HarnessError, match="refused to unpickle: the file would import") as info:
        F.safe_load_pickle(path)
    assert str(path) in str(info.value) and "harness data convert" in str(info.value)
    assert not marker.exists()
    with pytest.raises(HarnessError):
        F.convert(path, tmp_path / "out")
    assert not marker.exists()


def test_refusal_names_the_import(tmp_path):
    path = dump(_Eval(tmp_path / "m"), tmp_path / "e.pkl")
    with pytest.raises(HarnessError, match=r"builtins\.eval"):
        F.safe_load_pickle(path)


def test_arbitrary_class_refused(tmp_path):
    path = dump({"p": Path("/etc")}, tmp_path / "p.pkl")
    with pytest.raises(HarnessError, match="pathlib"):
        F.safe_load_pickle(path)


def test_torch_tensor_gets_the_numpy_hint(tmp_path):
    torch = pytest.importorskip("torch")
    path = dump([{"video_x": torch.zeros(2, 3)}], tmp_path / "t.pkl")
    with pytest.raises(HarnessError, match=r"torch tensor.*numpy") as info:
        F.safe_load_pickle(path)
    assert str(path) in str(info.value)


def test_persistent_ids_refused(tmp_path):
    import io

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return "ext" if obj == "external" else None

    buffer = io.BytesIO()
    Pickler(buffer).dump(["external"])
    path = tmp_path / "pid.pkl"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(HarnessError, match="persistent ids"):
        F.safe_load_pickle(path)


def test_truncated_and_missing_pickles(tmp_path):
    data = pickle.dumps(organizer_clips(2), protocol=4)
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(HarnessError, match="corrupt or truncated pickle") as info:
        F.safe_load_pickle(path)
    assert str(path) in str(info.value)
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(HarnessError, match="corrupt or truncated pickle"):
        F.safe_load_pickle(tmp_path / "junk.pkl")
    with pytest.raises(HarnessError, match="no such file"):
        F.safe_load_pickle(tmp_path / "absent.pkl")


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_containers_and_numpy_load(tmp_path, protocol):
    obj = {"set": {1, 2}, "fs": frozenset({3}), "c": 1j, "s": slice(1, 2), "ba": bytearray(b"xy"), "b": b"",
           "od": OrderedDict(a=1), "arr": np.arange(6, dtype=np.int16).reshape(2, 3), "f": np.float32(2.5),
           "i": np.int64(7), "t": np.zeros((3, 2)).T, "u": np.array(["a", "bc"]), "bool": np.bool_(True)}
    got = F.safe_load_pickle(dump(obj, tmp_path / "ok.pkl", protocol))
    assert got.keys() == obj.keys()
    for key, value in obj.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got[key], value)
            assert got[key].dtype == value.dtype
        else:
            assert got[key] == value


KEY = bytes(range(32))


def test_opaque_id_is_keyed_stable_and_label_free():
    a = F.opaque_id(KEY, "dolos", "AN_WILTY_EP15_lie1")
    assert a == F.opaque_id(KEY, "dolos", "AN_WILTY_EP15_lie1") and a.startswith("dd-") and len(a) == 19
    assert a != F.opaque_id(KEY, "rlt", "AN_WILTY_EP15_lie1")
    assert a != F.opaque_id(bytes(32), "dolos", "AN_WILTY_EP15_lie1")  # another key, another mapping
    # independent: HMAC-SHA256 as RFC 2104 defines it, computed with hashlib alone
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in KEY.ljust(64, b"\0")) + b"dolos/AN_WILTY_EP15_lie1").digest()
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in KEY.ljust(64, b"\0")) + inner).hexdigest()
    assert a == "dd-" + outer[:16]
    # the unkeyed hash of the name (what ids used to be) is not the id
    assert a[3:] not in hashlib.sha256(b"dolos/AN_WILTY_EP15_lie1").hexdigest()
    with pytest.raises(ValueError, match="key"):
        F.opaque_id(b"", "dolos", "x")


def test_the_id_key_is_made_once_private_and_never_followed(tmp_path):
    key = F.id_key(tmp_path)
    path = tmp_path / F.ID_KEY_FILE
    assert len(key) == 32 and F.id_key(tmp_path) == key and (path.stat().st_mode & 0o777) == 0o600
    other = tmp_path / "other"
    other.mkdir()
    assert F.id_key(other) != key  # random, not derived from anything a participant knows
    (other / F.ID_KEY_FILE).unlink()
    (other / F.ID_KEY_FILE).symlink_to(path)
    with pytest.raises(HarnessError, match="not a regular file"):
        F.id_key(other)
    (other / F.ID_KEY_FILE).unlink()
    (other / F.ID_KEY_FILE).write_text("not hex")
    with pytest.raises(HarnessError, match="hex"):
        F.id_key(other)


# ----------------------------------------------------------------------------- convert + store

@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_round_trip_through_store(tmp_path, protocol):
    raw = organizer_clips(5)
    src = dump(raw, tmp_path / "rlt_train.pkl", protocol)
    (folder,) = F.convert(src, tmp_path / "out", dataset="rlt")
    assert folder == tmp_path / "out" / "rlt_train"
    store = F.FeatureStore(folder)
    assert len(store) == 5 and store.dataset == "rlt" and not store.ids_opaque and store.has_labels
    assert store.videonames == [c["videoname"] for c in raw]
    assert store.labels.dtype == np.int8 and store.labels.tolist() == [c["DD_label"] for c in raw]
    assert store.modalities == F.MODALITIES
    faces_unit = max(c["video_x"].max() for c in raw) <= 1.0
    for i, clip in enumerate(raw):
        assert store.present(i) == F.MODALITIES and store.n_sub(i) == 1
        (sub,) = store.sub_clips(i)
        np.testing.assert_array_equal(sub["faces"], expected_uint8(clip["video_x"], faces_unit))
        np.testing.assert_array_equal(sub["mel"], expected_uint8(clip["audio_x"], False))
        np.testing.assert_array_equal(sub["au"], clip["OpenFace_x"].astype(np.float32))
        np.testing.assert_array_equal(sub["affect"], clip["x_affect"])
        np.testing.assert_array_equal(sub["wave"], clip["audio_wave"])
        assert sub["faces"].dtype == np.uint8 and sub["au"].dtype == np.float32 and sub["wave"].ndim == 1
        assert store.duration_s(i) == WAVE_LEN / 16000
    meta = json.loads((folder / "store.json").read_text())
    assert meta["format"] == "harness-deception-features" and meta["version"] == 1
    assert meta["source"] == "rlt_train.pkl" and meta["n_clips"] == 5 and meta["ids"] == "videoname"
    assert meta["modalities"]["faces"]["shape"] == [T_FACES, SIDE, SIDE, 3]
    assert meta["modalities"]["wave"]["shape"] is None
    import hashlib
    assert meta["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert isinstance(store._arrays["faces"], np.memmap)
    assert len(store.fingerprint()) == 16
    assert F.FeatureStore(folder).fingerprint() == store.fingerprint()


def test_clips_from_pickle_accepts_dict_of_dicts_and_uint8(tmp_path):
    rng = np.random.default_rng(1)
    clip = organizer_clip(rng, "x", 0)
    clip["video_x"] = rng.integers(0, 256, clip["video_x"].shape, dtype=np.uint8)
    clip["DD_label"] = np.array([1])
    del clip["videoname"]
    (got,) = F.clips_from_pickle(dump({"x": clip}, tmp_path / "d.pkl"))
    assert got.videoname == "x" and got.label == 1 and got.n_sub == 1
    np.testing.assert_array_equal(got.arrays["faces"][0], clip["video_x"])


@pytest.mark.parametrize("label", [True, np.int64(0), np.bool_(True), np.array(1), np.array([0.0]), 1.0])
def test_label_forms(tmp_path, label):
    raw = organizer_clips(1)
    raw[0]["DD_label"] = label
    (clip,) = F.clips_from_pickle(dump(raw, tmp_path / "l.pkl"))
    assert clip.label == int(np.asarray(label).reshape(()))


def test_sub_clips_kept(tmp_path):
    raw = organizer_clips(3, k=3)
    for c in raw:
        c["DD_label"] = None
    (folder,) = F.convert(dump(raw, tmp_path / "test.pkl"), tmp_path / "out", dataset="dolos")
    store = F.FeatureStore(folder)
    assert not store.has_labels and store.labels is None
    for i, clip in enumerate(raw):
        subs = store.sub_clips(i)
        assert store.n_sub(i) == 3 and len(subs) == 3
        for k, sub in enumerate(subs):
            np.testing.assert_array_equal(sub["affect"], clip["x_affect"][k])
            np.testing.assert_array_equal(sub["wave"], clip["audio_wave"][k])
            assert sub["faces"].shape == (T_FACES, SIDE, SIDE, 3)
    assert json.loads((folder / "store.json").read_text())["modalities"]["faces"]["rows"] == 9


def test_missing_modalities_recorded(tmp_path):
    rng = np.random.default_rng(2)
    raw = [organizer_clip(rng, "a", 1, drop=("audio_x", "audio_wave")),
           organizer_clip(rng, "b", 0, drop=("video_x",), wave_len=700),
           organizer_clip(rng, "c", 0)]
    del raw[2]["x_affect"]
    store = F.FeatureStore(F.convert(dump(raw, tmp_path / "m.pkl"), tmp_path / "out")[0])
    assert store.present(0) == ("faces", "au", "affect")
    assert store.present(1) == ("au", "affect", "mel", "wave")
    assert store.present(2) == ("faces", "au", "mel", "wave")
    assert store.duration_s(0) is None and store.duration_s(1) == 700 / 16000
    assert set(store.sub_clips(0)[0]) == {"faces", "au", "affect"}
    np.testing.assert_array_equal(store.sub_clips(1)[0]["wave"], raw[1]["audio_wave"])
    np.testing.assert_array_equal(store.sub_clips(2)[0]["wave"], raw[2]["audio_wave"])
    only_au = [{"videoname": "z", "DD_label": 1, "OpenFace_x": np.zeros((5, 43))}]
    assert F.FeatureStore(F.convert(dump(only_au, tmp_path / "au.pkl"), tmp_path / "out")[0]).modalities == ("au",)


def test_strip_labels_gives_opaque_ids(tmp_path):
    raw = organizer_clips(6)
    src = dump(raw, tmp_path / "dolos_test.pkl")
    with pytest.raises(HarnessError, match="dataset"):
        F.convert(src, tmp_path / "out", strip_labels=True)
    with pytest.raises(HarnessError, match="id-key"):  # ids under a key nobody holds would match no reference
        F.convert(src, tmp_path / "out", dataset="dolos", strip_labels=True)
    (folder,) = F.convert(src, tmp_path / "out", dataset="dolos", strip_labels=True, key=KEY)
    assert not any(F.ID_KEY_FILE in p.name or KEY.hex() in p.read_text(errors="replace")
                   for p in folder.rglob("*") if p.is_file())  # the key never enters a participant copy
    store = F.FeatureStore(folder)
    assert store.ids_opaque and not store.has_labels and store.labels is None
    assert sorted(store.videonames) == store.videonames  # order sorted by id: it says nothing of labels
    assert set(store.videonames) == {F.opaque_id(KEY, "dolos", c["videoname"]) for c in raw}
    text = "".join(p.read_text() for p in folder.glob("*.json")).lower()
    assert "lie" not in text and "truth" not in text and "trial_" not in text
    assert all(c["label"] is None for c in json.loads((folder / "clips.json").read_text()))
    by_id = {F.opaque_id(KEY, "dolos", c["videoname"]): c for c in raw}
    for i, name in enumerate(store.videonames):
        np.testing.assert_array_equal(store.sub_clips(i)[0]["affect"], by_id[name]["x_affect"])


def test_convert_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    dump(organizer_clips(2), src / "b.pkl")
    dump(organizer_clips(3), src / "a.pkl")
    (src / "notes.txt").write_text("x")
    written = F.convert(src, tmp_path / "out", dataset="x")
    assert [p.name for p in written] == ["a", "b"] and len(F.FeatureStore(written[0])) == 3
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="no .pkl files"):
        F.convert(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(HarnessError, match="no such file"):
        F.convert(tmp_path / "nothing.pkl", tmp_path / "out")


def _bad(kind: str) -> object:
    raw = organizer_clips(3)
    if kind == "empty":
        return []
    if kind == "not a list":
        return "clips"
    if kind == "clip not a dict":
        raw[1] = [1, 2]
    elif kind == "au ndim":
        raw[1]["OpenFace_x"] = np.zeros(43)
    elif kind == "au last dim":
        raw[1]["OpenFace_x"] = np.zeros((T_AU, 42))
    elif kind == "affect last dim":
        raw[1]["x_affect"] = np.zeros((T_AU, 8))
    elif kind == "faces last dim":
        raw[1]["video_x"] = np.zeros((T_FACES, SIDE, SIDE, 1))
    elif kind == "mel last dim":
        raw[1]["audio_x"] = np.zeros((SIDE, SIDE, 4))
    elif kind == "wave ndim":
        raw[1]["audio_wave"] = np.zeros((1, 2, 10))
    elif kind == "K mismatch":
        raw[1]["OpenFace_x"] = np.zeros((2, T_AU, 43))
    elif kind == "label 2":
        raw[1]["DD_label"] = 2
    elif kind == "label string":
        raw[1]["DD_label"] = "lie"
    elif kind == "label vector":
        raw[1]["DD_label"] = np.array([0, 1])
    elif kind == "label partly missing":
        raw[1]["DD_label"] = None
    elif kind == "videoname missing":
        del raw[1]["videoname"]
    elif kind == "videoname duplicate":
        raw[1]["videoname"] = raw[0]["videoname"]
    elif kind == "au nan":
        raw[1]["OpenFace_x"][0, 0] = np.nan
    elif kind == "affect inf":
        raw[1]["x_affect"][0, 0] = np.inf
    elif kind == "wave nan":
        raw[1]["audio_wave"][3] = np.nan
    elif kind == "object dtype":
        raw[1]["OpenFace_x"] = np.array([["a"] * 43], dtype=object)
    elif kind == "empty array":
        raw[1]["audio_wave"] = np.zeros(0, np.float32)
    elif kind == "no modality":
        raw[1] = {"videoname": "v", "DD_label": 1}
    elif kind == "faces shape differs":
        raw[1]["video_x"] = np.zeros((T_FACES + 1, SIDE, SIDE, 3), np.float32)
    return raw


BAD_CASES = {
    "empty": "empty file", "not a list": "expected a list", "clip not a dict": r"clip 1 is a list",
    "au ndim": r"clip 1 \('trial_lie_001'\).*OpenFace_x", "au last dim": "last axis must be 43",
    "affect last dim": "last axis must be 7", "faces last dim": "last axis must be 3",
    "mel last dim": "audio_x.*last axis must be 3", "wave ndim": "audio_wave", "K mismatch": "number of sub-clips",
    "label 2": "DD_label 2", "label string": "DD_label 'lie'", "label vector": "DD_label has shape",
    "label partly missing": "DD_label missing", "videoname missing": "clip 1: missing videoname",
    "videoname duplicate": "duplicate videoname", "au nan": "OpenFace_x.*NaN", "affect inf": "x_affect.*NaN",
    "wave nan": "audio_wave.*NaN", "object dtype": "dtype object", "empty array": "empty",
    "no modality": "no modality", "faces shape differs": r"clip 1 .*faces rows have shape",
}


@pytest.mark.parametrize("kind", sorted(BAD_CASES))
def test_bad_input_names_file_and_clip(tmp_path, kind):
    src = dump(_bad(kind), tmp_path / "bad.pkl")
    with pytest.raises(HarnessError, match=BAD_CASES[kind]) as info:
        F.convert(src, tmp_path / "out", dataset="x")
    if kind != "faces shape differs":  # write_store names the output folder, the clip and both shapes
        assert info.value.path == str(src)
    assert not (tmp_path / "out" / "bad").exists()


def test_store_writes_atomically_over_an_old_one(tmp_path):
    out = tmp_path / "out"
    F.convert(dump(organizer_clips(2), tmp_path / "s.pkl"), out)
    with pytest.raises(HarnessError, match="--overwrite"):
        F.convert(dump(organizer_clips(4), tmp_path / "s.pkl"), out)
    F.convert(dump(organizer_clips(4), tmp_path / "s.pkl"), out, overwrite=True)
    assert len(F.FeatureStore(out / "s")) == 4 and sorted(p.name for p in out.iterdir()) == ["s"]


# ----------------------------------------------------------------------------- damaged stores

@pytest.fixture
def store_folder(tmp_path) -> Path:
    return F.convert(dump(organizer_clips(3), tmp_path / "s.pkl"), tmp_path / "out")[0]


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "store.json").unlink(), "missing store.json"),
    (lambda f: (f / "clips.json").unlink(), "missing clips.json"),
    (lambda f: (f / "faces.npy").unlink(), "missing faces.npy"),
    (lambda f: (f / "wave_index.npy").unlink(), "missing wave_index.npy"),
    (lambda f: (f / "store.json").write_text("{not json"), "corrupt store.json"),
    (lambda f: (f / "faces.npy").write_bytes((f / "faces.npy").read_bytes()[:500]), "faces.npy"),
    (lambda f: (f / "au.npy").write_bytes(b"garbage"), "corrupt or truncated au.npy"),
    (lambda f: np.save(f / "affect.npy", np.zeros((3, T_AU, 8), np.float32)), "affect.npy has shape"),
    (lambda f: np.save(f / "wave_index.npy", np.array([[0, 10 ** 9]] * 3)), "wave_index.npy does not match"),
    (lambda f: _edit_json(f / "store.json", format="other"), "not a 'harness-deception-features'"),
    (lambda f: _edit_json(f / "store.json", version=9), "version 9"),
    (lambda f: _edit_json(f / "store.json", n_clips=7), "clips.json holds 3 clips"),
    (lambda f: _edit_json(f / "store.json", modalities=None), "malformed"),
])
def test_damaged_store_gives_clear_error(store_folder, damage, message):
    damage(store_folder)
    with pytest.raises(HarnessError, match=message) as info:
        F.FeatureStore(store_folder)
    assert str(store_folder) in str(info.value)


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_missing_store_folder(tmp_path):
    with pytest.raises(HarnessError, match="no such feature-store folder"):
        F.FeatureStore(tmp_path / "nope")


# ----------------------------------------------------------------------------- collate

def _sample(rng, t=3, side=5, wave=None, drop=()):
    sample = {"faces": rng.integers(0, 256, (t, side, side, 3), dtype=np.uint8),
              "au": rng.standard_normal((7, 43)).astype(np.float32),
              "affect": rng.standard_normal((7, 7)).astype(np.float32),
              "mel": rng.integers(0, 256, (side, side, 3), dtype=np.uint8),
              "wave": rng.standard_normal(wave or 50).astype(np.float32)}
    return {k: v for k, v in sample.items() if k not in drop}


def test_collate_shapes_dtypes_and_values():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    samples = [_sample(rng, wave=30), _sample(rng, wave=50)]
    batch = F.collate(samples)
    assert set(batch) == {"faces", "au", "affect", "mel", "wave", "wave_len", "mask"}
    assert batch["faces"].shape == (2, 3, 3, 5, 5) and batch["faces"].dtype == torch.float32
    assert batch["faces"].is_contiguous() and batch["mel"].shape == (2, 3, 5, 5)
    assert batch["au"].shape == (2, 7, 43) and batch["affect"].shape == (2, 7, 7)
    assert batch["wave"].shape == (2, 50) and batch["wave_len"].tolist() == [30, 50]
    assert batch["wave_len"].dtype == torch.int64 and batch["mask"].dtype == torch.bool
    assert batch["mask"].all() and batch["mask"].shape == (2, 5)
    np.testing.assert_allclose(batch["faces"][1].numpy(), samples[1]["faces"].transpose(0, 3, 1, 2) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(batch["mel"][0].numpy(), samples[0]["mel"].transpose(2, 0, 1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(batch["wave"][0, :30].numpy(), samples[0]["wave"])
    assert not batch["wave"][0, 30:].any()
    assert float(batch["faces"].max()) <= 1.0 and "ids" not in batch


def test_collate_zero_fills_absent_modalities():
    rng = np.random.default_rng(1)
    samples = [_sample(rng, drop=("faces", "wave")), _sample(rng, drop=("au",)), _sample(rng, drop=("mel", "wave"))]
    samples = [{k: v for k, v in s.items() if k != "affect"} for s in samples]
    batch = F.collate(samples)
    assert "affect" not in batch and "wave" in batch and "faces" in batch
    assert batch["mask"].tolist() == [[False, True, False, True, False], [True, False, False, True, True],
                                      [True, True, False, False, False]]
    assert not batch["faces"][0].any() and not batch["au"][1].any() and not batch["mel"][2].any()
    assert batch["wave_len"].tolist() == [0, 50, 0] and not batch["wave"][0].any()


def test_collate_refuses_mixed_shapes_and_empty():
    rng = np.random.default_rng(2)
    with pytest.raises(HarnessError, match="faces rows of different shapes"):
        F.collate([_sample(rng, t=3), _sample(rng, t=4)])
    with pytest.raises(ValueError):
        F.collate([])


def test_collate_from_store(store_folder):
    store = F.FeatureStore(store_folder)
    batch = F.collate([sub for i in range(len(store)) for sub in store.sub_clips(i)])
    assert batch["faces"].shape == (3, T_FACES, 3, SIDE, SIDE) and batch["wave"].shape == (3, WAVE_LEN)
