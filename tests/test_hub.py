"""Hub dataset repositories (hf://datasets/...): data and results roots read from the local Hugging
Face cache, exports in the leaderboard template's layout, and pushes — all offline: repositories
are built in the cache layout in a temporary folder and HF_HUB_OFFLINE=1."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

import harness.cli
import harness.records
from harness import hub
from harness.cli import main
from harness.errors import HarnessError
from harness.families.rppg.family import FAMILY
from harness.hub import (
    export_results,
    fold_revision,
    parse_hub_url,
    push_results,
    resolve_data_root,
    results_root,
)
from harness.leaderboard import build, render
from harness.records import iter_records
from harness.task import TaskIndex

TASK = "svc2026-rppg-phase2"


# ----------------------------------------------------------------------------- a fake Hub cache
@pytest.fixture(autouse=True)
def hf_cache(tmp_path, monkeypatch) -> Path:
    """An empty HF cache; offline (nothing here may reach huggingface.co)."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HARNESS_DATA", raising=False)
    return cache


def cache_repo(cache: Path, repo_id: str, files: Path | dict[str, bytes], *, ref: str | None = "main",
               link: bool = True) -> str:
    """Put ``files`` (a folder, or path → bytes) into the cache as one commit of the dataset repo
    ``repo_id``, the way ``hf download`` leaves it: ``snapshots/<sha>/<path>`` a relative symlink
    into ``blobs/`` (``link``) or a plain copy; ``refs/<ref>`` holding the sha. Returns the sha."""
    if isinstance(files, Path):
        files = {p.relative_to(files).as_posix(): p.read_bytes() for p in sorted(files.rglob("*")) if p.is_file()}
    repo = cache / f"datasets--{repo_id.replace('/', '--')}"
    listing = json.dumps(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items()))
    sha = hashlib.sha1(listing.encode()).hexdigest()
    snap = repo / "snapshots" / sha
    for rel, data in files.items():
        target = snap / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if link:
            blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
            blob.parent.mkdir(parents=True, exist_ok=True)
            blob.write_bytes(data)
            target.symlink_to(os.path.relpath(blob, target.parent))
        else:
            target.write_bytes(data)
    if ref:
        (repo / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(sha)  # no newline, as huggingface_hub writes it
    return sha


def error_line(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.fixture
def with_hub_cli(monkeypatch):
    """``harness push`` and ``harness leaderboard --results hf://...`` through ``harness.cli.main``,
    whether or not cli.py is wired yet (PLUGIN_COMMANDS, cmd_leaderboard → results_root)."""
    if "harness.hub" not in harness.cli.PLUGIN_COMMANDS:
        monkeypatch.setattr(harness.cli, "PLUGIN_COMMANDS", (*harness.cli.PLUGIN_COMMANDS, "harness.hub"))
    monkeypatch.setattr(harness.records, "results_dir", results_root)  # cmd_leaderboard imports it at call time


# ----------------------------------------------------------------------------- URLs
@pytest.mark.parametrize("url, expected", [
    ("hf://datasets/org/name", ("org/name", None)),
    ("hf://datasets/org/name@main", ("org/name", "main")),
    ("hf://datasets/my-org/data.set_1@v1.0", ("my-org/data.set_1", "v1.0")),
    ("hf://datasets/org/name@" + "a" * 40, ("org/name", "a" * 40)),
    ("hf://datasets/org/name@refs%2Fpr%2F3", ("org/name", "refs/pr/3")),
])
def test_parse_hub_url(url, expected):
    assert parse_hub_url(url) == expected


@pytest.mark.parametrize("url, message", [
    ("hf://datasets/name", "missing the organization"),
    ("hf://datasets/", "missing the organization (or user) and the name"),
    ("hf://datasets/org/", "missing the organization"),
    ("hf://datasets/org/name@", "empty revision"),
    ("hf://models/org/name", "only dataset repositories"),
    ("hf://spaces/org/name", "only dataset repositories"),
    ("hf://org/name", "only dataset repositories"),
    ("hf://datasets/org/name/sub/dir", "a path inside the repository"),
    ("hf://datasets/org/na me", "not a valid repository id"),
    ("hf://datasets/org/name@a b", "invalid revision"),
    ("/data/org/name", "not a Hugging Face Hub URL"),
])
def test_parse_hub_url_refuses_malformed_urls(url, message):
    with pytest.raises(HarnessError, match="expected hf://datasets/<org>/<name>") as err:
        parse_hub_url(url)
    assert message in str(err.value) and "\n" not in str(err.value)


# ----------------------------------------------------------------------------- data roots
def test_resolve_data_root_from_the_cache_by_branch_commit_or_default(hf_cache):
    sha = cache_repo(hf_cache, "org/name", {"a.txt": b"hello", "sub/b.bin": b"\x00\x01"})
    for url, revision in (("hf://datasets/org/name@main", "main"), ("hf://datasets/org/name", "main"),
                          (f"hf://datasets/org/name@{sha}", sha)):
        root, origin = resolve_data_root(url)
        assert root.resolve() == (hf_cache / "datasets--org--name" / "snapshots" / sha).resolve()
        assert origin == {"hub": "hf://datasets/org/name", "repo": "org/name", "revision": revision, "commit": sha}
        assert (root / "a.txt").is_symlink() and (root / "a.txt").read_text() == "hello"
        assert (root / "sub/b.bin").read_bytes() == b"\x00\x01"


def test_resolve_data_root_of_a_tag_and_plain_copies(hf_cache):
    sha = cache_repo(hf_cache, "org/name", {"x.txt": b"v1"}, ref="v1.0", link=False)
    root, origin = resolve_data_root("hf://datasets/org/name@v1.0")
    assert (root / "x.txt").read_text() == "v1" and origin["commit"] == sha and origin["revision"] == "v1.0"


def test_plain_roots_and_the_environment(monkeypatch, hf_cache, tmp_path):
    assert resolve_data_root(None) == (None, None)
    assert resolve_data_root("") == (None, None)
    assert resolve_data_root(str(tmp_path)) == (tmp_path, None)
    assert resolve_data_root("sample") == (Path("sample"), None)
    monkeypatch.setenv("HARNESS_DATA", str(tmp_path))
    assert resolve_data_root(None) == (None, None)  # left to the family's own $HARNESS_DATA handling
    sha = cache_repo(hf_cache, "org/env", {"f": b"1"})
    monkeypatch.setenv("HARNESS_DATA", "hf://datasets/org/env")
    root, origin = resolve_data_root(None)
    assert origin["commit"] == sha and (root / "f").read_bytes() == b"1"
    assert resolve_data_root(str(tmp_path)) == (tmp_path, None)  # an explicit value wins over the env


def test_offline_uncached_repo_or_revision_is_one_clear_line(hf_cache):
    with pytest.raises(HarnessError) as err:
        resolve_data_root("hf://datasets/org/missing@rev")
    text = str(err.value)
    assert text == (f"hf://datasets/org/missing@rev is not in the local Hugging Face cache ({hf_cache}) and "
                    "HF_HUB_OFFLINE=1: fetch it once with `hf download org/missing --repo-type dataset --revision rev` "
                    "(or unset HF_HUB_OFFLINE)")
    cache_repo(hf_cache, "org/name", {"a": b"1"})
    with pytest.raises(HarnessError) as err:
        resolve_data_root("hf://datasets/org/name@v2")
    text = str(err.value)
    assert "revision v2 of org/name is not in the local Hugging Face cache" in text and "cached: main" in text
    assert "hf download org/name --repo-type dataset --revision v2" in text and "\n" not in text
    with pytest.raises(HarnessError, match="not in the local Hugging Face cache"):
        resolve_data_root("hf://datasets/org/name@" + "0" * 40)  # an uncached commit


def test_the_offline_decision_and_cache_are_read_at_call_time(monkeypatch, tmp_path):
    import huggingface_hub

    calls = []

    def fake(repo_id, **kw):
        calls.append((repo_id, kw))
        folder = tmp_path / "snapshots" / ("b" * 40)
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "c1"))
    resolve_data_root("hf://datasets/org/name@dev")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    _, origin = resolve_data_root("hf://datasets/org/name")
    assert calls == [("org/name", {"repo_type": "dataset", "revision": "dev", "cache_dir": str(tmp_path / "c1"),
                                   "local_files_only": True}),
                     ("org/name", {"repo_type": "dataset", "revision": None, "cache_dir": str(tmp_path / "home" / "hub"),
                                   "local_files_only": False})]
    assert origin == {"hub": "hf://datasets/org/name", "repo": "org/name", "revision": "main", "commit": "b" * 40}


def _response(status: int):
    import httpx2

    return httpx2.Response(status, request=httpx2.Request("GET", "https://huggingface.co/api/datasets/org/name"))


@pytest.mark.parametrize("make, message", [
    (lambda e: e.RepositoryNotFoundError("404 Client Error.\n\nRepository Not Found", response=_response(404)),
     "no such dataset repository on the Hub, or it is private or gated"),
    (lambda e: e.RevisionNotFoundError("404 Client Error.\n\nRevision Not Found", response=_response(404)),
     "revision 'rev' not found in the dataset repository org/name"),
    (lambda e: e.HfHubHTTPError("500 Server Error\nmore", response=_response(500)), "Hub request failed: 500 Server Error"),
    (lambda e: __import__("httpx2").ConnectError("connection refused"), "could not fetch the repository (ConnectError"),
    (lambda e: ConnectionResetError("reset by peer\nmore"), "could not fetch the repository (ConnectionResetError"),
])
def test_online_hub_errors_are_one_line(monkeypatch, make, message):
    import huggingface_hub
    from huggingface_hub import errors

    def fail(repo_id, **kw):
        raise make(errors)

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fail)
    with pytest.raises(HarnessError) as err:
        resolve_data_root("hf://datasets/org/name@rev")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_online_but_unreachable_and_uncached(monkeypatch, hf_cache):
    import httpx2
    import huggingface_hub
    from huggingface_hub import errors

    def fail(repo_id, **kw):
        try:
            raise httpx2.ConnectError("name resolution failed")
        except httpx2.ConnectError as cause:
            raise errors.LocalEntryNotFoundError("Got: ConnectError\nAn error happened") from cause

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fail)
    with pytest.raises(HarnessError) as err:
        resolve_data_root("hf://datasets/org/name")
    assert str(err.value) == (f"hf://datasets/org/name@main is not in the local Hugging Face cache ({hf_cache}) and the "
                              "Hub could not be reached (name resolution failed): check the network, or fetch it once "
                              "with `hf download org/name --repo-type dataset`")


def test_fold_revision():
    origin = {"hub": "hf://datasets/org/name", "repo": "org/name", "revision": "main", "commit": "a" * 40}
    assert fold_revision("0123456789abcdef", None) == "0123456789abcdef"
    folded = fold_revision("0123456789abcdef", origin)
    assert len(folded) == 16 and int(folded, 16) >= 0 and folded != "0123456789abcdef"
    assert fold_revision("0123456789abcdef", dict(origin)) == folded  # deterministic
    assert fold_revision("0123456789abcdef", {**origin, "commit": "b" * 40}) != folded
    assert fold_revision("fedcba9876543210", origin) != folded
    assert fold_revision("0123456789abcdef", {**origin, "revision": "v1"}) == folded  # the commit decides, not its name


def test_a_family_loader_reads_data_through_an_hf_root(hf_cache, tmp_path, capsys):
    src = FAMILY.sample_root()  # the session's sample, what `harness data synth rppg` writes (test_cli checks it)
    sha = cache_repo(hf_cache, "org/rppg", src)
    root, origin = resolve_data_root("hf://datasets/org/rppg@main")
    assert origin["commit"] == sha and root.name == sha
    capsys.readouterr()
    assert main(["run", "--task", TASK, "--model", "pos", "--data-root", str(root), "--json", "--limit", "3"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert main(["run", "--task", TASK, "--model", "pos", "--data-root", "hf://datasets/org/rppg@main", "--json",
                 "--limit", "3"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["data"]["source"] == "sample"  # the generator's marker file travelled with the data
    assert rec["data"]["root"] == str(root) and rec["data"]["origin"]["commit"] == sha
    assert rec["data"]["origin"]["hub"] == "hf://datasets/org/rppg" and rec["data"]["origin"]["revision"] == "main"
    # the same files read through the Hub: same numbers, and the commit folded into the fingerprint
    assert rec["metrics"] == local["metrics"] and "origin" not in local["data"]
    assert rec["data"]["fingerprint"] == fold_revision(local["data"]["fingerprint"], rec["data"]["origin"]) \
        != local["data"]["fingerprint"]
    # the organizer's side reads the same root: reference export, then scoring against the Hub data
    ref = tmp_path / "ref.npz"
    assert main(["data", "reference", "--task", TASK, "--data-root", "hf://datasets/org/rppg", "--out", str(ref)]) == 0
    assert ref.is_file()


# ----------------------------------------------------------------------------- export
@pytest.fixture
def results(pos_submission, tmp_path) -> Path:
    """A copy of the POS run's results plus: a second seed of POS, a --limit smoke run, another
    model (``green``, worse) and a real-data run."""
    res = tmp_path / "local-results"
    shutil.copytree(pos_submission["folder"] / "results" / "runs", res / "runs")
    pos = res / "runs/sample" / TASK / "pos"
    rec = json.loads((pos / "record.json").read_text())

    def clone(folder: str, **changes):
        target = pos.parent.parent.parent / changes.pop("source", "sample") / TASK / folder
        shutil.copytree(pos, target)
        new = json.loads(json.dumps(rec))
        for key, value in changes.items():
            obj = new
            *path, last = key.split(".")
            for part in path:
                obj = obj[part]
            obj[last] = value
        (target / "record.json").write_text(json.dumps(new))
        return new

    mae = rec["metrics"]["mae"]["value"]
    clone("pos@seed2", seed=2, **{"metrics.mae.value": mae + 1.0, "created": "2026-02-03T04:05:06+00:00"})
    clone("pos@limit3", reportable=False, limit=3)
    clone("green", **{"model.name": "green", "model.tag": "green", "model.code_fingerprint": "feedbeef",
                      "metrics.mae.value": mae + 5.0, "metrics.mae.ci_low": mae + 4.0, "metrics.mae.ci_high": mae + 6.0})
    clone("pos", source="real", **{"data.source": "real", "created": "2026-03-01T00:00:00Z"})
    return res


def _stamp(created: str) -> str:
    import datetime as dt

    return dt.datetime.fromisoformat(created.replace("Z", "+00:00")).astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H-%M-%S")


def test_export_layout_and_content(results, tmp_path):
    out = tmp_path / "export"
    written = export_results(results, out)
    recs = {r["_path"]: r for r in iter_records(results)}
    pos = next(r for r in recs.values() if r["model"]["tag"] == "pos" and r["data"]["source"] == "sample")
    stamp = _stamp(pos["created"])
    expected = {f"{TASK}/pos/results_{stamp}.json", f"{TASK}/pos/results_2026-02-03T04-05-06_seed2.json",
                f"{TASK}/green/results_{stamp}.json", f"{TASK}/pos/results_2026-03-01T00-00-00.json"}
    assert {p.relative_to(out).as_posix() for p in written} == expected  # the --limit run is not exported
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        ["README.md", hub.RUNS_FILE, hub.SAMPLES_FILE] + list(expected)
        + [e.replace("/results_", "/samples_").replace(".json", ".csv") for e in expected])

    got = json.loads((out / TASK / "pos" / f"results_{stamp}.json").read_text())
    assert "_path" not in got
    assert got["config"] == {"model_name": "pos", "model_sha": pos["model"]["fingerprint"], "model_dtype": "float32"}
    assert got["results"] == {TASK: {m: v["value"] for m, v in pos["metrics"].items()}}
    assert got["files"] == {"samples": f"samples_{stamp}.csv", "outputs": None, "submission": None}
    assert {k: v for k, v in got.items() if k not in ("config", "results", "files")} == \
        {k: v for k, v in pos.items() if k not in ("_path", "files")}
    assert (out / TASK / "pos" / f"samples_{stamp}.csv").read_bytes() == \
        (Path(pos["_path"]).parent / "samples.csv").read_bytes()
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and hub.CARD_MARKER in card and "results_<created" in card

    only_real = export_results(results, tmp_path / "real", source="real")
    assert [p.relative_to(tmp_path / "real").as_posix() for p in only_real] == [f"{TASK}/pos/results_2026-03-01T00-00-00.json"]
    assert json.loads(only_real[0].read_text())["data"]["source"] == "real"

    # re-exporting replaces an earlier export; an unrelated folder is never replaced
    (out / "stale.json").write_text("{}")
    export_results(results, out, source="sample")
    assert not (out / "stale.json").exists() and not (out / TASK / "pos/results_2026-03-01T00-00-00.json").exists()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(HarnessError, match="not a harness results export"):
        export_results(results, other)
    assert (other / "notes.txt").read_text() == "keep me"


def test_export_names_the_dtype_and_separates_same_second_sources(results, tmp_path):
    real = results / "runs/real" / TASK / "pos" / "record.json"
    sample = json.loads((results / "runs/sample" / TASK / "pos" / "record.json").read_text())
    rec = json.loads(real.read_text())
    rec["created"] = sample["created"]
    rec["model"]["args"] = {"dtype": "bfloat16"}
    real.write_text(json.dumps(rec))
    names = {p.name for p in export_results(results, tmp_path / "e") if p.parent.name == "pos"}
    stamp = _stamp(sample["created"])
    assert names == {f"results_{stamp}_real.json", f"results_{stamp}_sample.json", "results_2026-02-03T04-05-06_seed2.json"}
    got = json.loads((tmp_path / "e" / TASK / "pos" / f"results_{stamp}_real.json").read_text())
    assert got["config"]["model_dtype"] == "bfloat16"
    for precision, dtype in (("fp32", "float32"), ("amp-float16", "float16"), ("amp-bfloat16", "bfloat16")):
        plain = {**rec, "model": {**rec["model"], "args": {}}, "precision": precision}
        assert hub.hub_record(plain)["config"]["model_dtype"] == dtype
    assert hub.hub_record({**rec, "precision": "fp32"})["config"]["model_dtype"] == "bfloat16"  # the model's own dtype


def test_nothing_to_export(tmp_path):
    with pytest.raises(HarnessError, match="nothing to push"):
        export_results(tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- push
class FakeApi:
    def __init__(self, fail: Exception | None = None):
        self.calls = []
        self.fail = fail

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", repo_id, kw))
        if self.fail:
            raise self.fail

    def create_branch(self, repo_id, **kw):
        self.calls.append(("create_branch", repo_id, kw))

    def upload_folder(self, **kw):
        folder = Path(kw["folder_path"])
        self.uploaded = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        self.calls.append(("upload_folder", kw["repo_id"], kw))

        class Info:
            commit_url = f"https://huggingface.co/datasets/{kw['repo_id']}/commit/{'c' * 40}"
            oid = "c" * 40
        return Info()


def test_push_results_creates_the_repo_and_uploads_once(results, tmp_path):
    api = FakeApi()
    done = push_results(results, "org/results", source="sample", private=True, api=api)
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]
    assert api.calls[0][2] == {"repo_type": "dataset", "private": True, "exist_ok": True}
    upload = api.calls[1][2]
    assert upload["repo_type"] == "dataset" and upload["repo_id"] == "org/results" and upload["revision"] is None
    assert upload["commit_message"] == f"harness: 3 run record(s) for {TASK}"
    assert "README.md" in api.uploaded and f"{TASK}/green/" + done["files"][0].split("/")[-1] in api.uploaded
    assert set(done["files"]) <= set(api.uploaded) and len(done["files"]) == 3
    assert not Path(upload["folder_path"]).exists()  # the temporary export is gone
    assert done["url"].endswith("/commit/" + "c" * 40) and done["commit"] == "c" * 40

    api = FakeApi()
    push_results(results, "org/results", revision="v2", message="m", api=api)
    assert [c[0] for c in api.calls] == ["create_repo", "create_branch", "upload_folder"]
    assert api.calls[2][2]["revision"] == "v2" and api.calls[2][2]["commit_message"] == "m"


@pytest.mark.parametrize("fail, message", [
    (lambda: __import__("huggingface_hub.errors", fromlist=["x"]).HfHubHTTPError("401 Unauthorized\nInvalid token", response=_response(401)),
     "not authorized to write this repository"),
    (lambda: __import__("httpx2").ConnectError("no route to host"), "could not reach the Hub (ConnectError: no route to host)"),
    (lambda: __import__("huggingface_hub.errors", fromlist=["x"]).HfHubHTTPError("500 boom\nx", response=_response(500)),
     "Hub request failed: 500 boom"),
])
def test_push_errors_are_one_line(results, fail, message):
    with pytest.raises(HarnessError) as err:
        push_results(results, "org/results", api=FakeApi(fail()))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_push_refuses_a_bad_repo_id(results):
    for bad in ("results", "org/na me", "a/b/c", "org/"):
        with pytest.raises(HarnessError, match="must be <org>/<name>|not a valid repository id"):
            push_results(results, bad, api=FakeApi())


# ----------------------------------------------------------------------------- CLI
def test_cli_push_out_and_errors(results, tmp_path, capsys, with_hub_cli):
    out = tmp_path / "exp"
    assert main(["push", "--results", str(results), "--out", str(out), "--source", "sample"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == f"exported 3 run record(s) from {results} to {out} (not uploaded)"
    assert sorted(printed[:-1]) == sorted(str(p) for p in out.rglob("results_*.json"))

    line = error_line(capsys, ["push", "--results", str(tmp_path / "none"), "--out", str(tmp_path / "o2")])
    assert "nothing to push" in line
    assert "give --repo" in error_line(capsys, ["push", "--results", str(results)])
    assert "must be <org>/<name>" in error_line(capsys, ["push", "--results", str(results), "--repo", "justname"])
    # offline (decided at call time, never reaching the Hub)
    line = error_line(capsys, ["push", "--results", str(results), "--repo", "org/results"])
    assert line == "harness: error: hf://datasets/org/results: cannot push with HF_HUB_OFFLINE=1 (unset it, or export with --out DIR)"


def test_cmd_push_with_a_namespace(results, tmp_path, capsys, monkeypatch):
    api = FakeApi()
    monkeypatch.setattr(hub, "push_results", lambda *a, **kw: push_results(*a, **{**kw, "api": api}))
    args = argparse.Namespace(results=str(results), repo="org/results", source=None, private=False, revision=None,
                              message=None, out=None)
    assert hub.cmd_push(args) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1].startswith("pushed 4 run record(s) to hf://datasets/org/results: https://huggingface.co/")
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]


def test_leaderboard_from_a_hub_export_equals_the_local_one(results, tmp_path, hf_cache, capsys, monkeypatch, with_hub_cli):
    index = TaskIndex()
    task = index.tasks[TASK]
    export = tmp_path / "export"
    export_results(results, export)
    # the export leaves --limit runs out, and a local board only names them in a note: drop it here
    shutil.rmtree(results / "runs" / "sample" / TASK / "pos@limit3")
    sha = cache_repo(hf_cache, "org/results", export)
    url = "hf://datasets/org/results"
    assert results_root(url).name == sha
    assert results_root(str(tmp_path)) == tmp_path
    snap = results_root(url)
    for source in ("sample", "real"):
        local, remote = build(index, task, results, source), build(index, task, snap, source)
        assert [r.model for r in local.rows] == [r.model for r in remote.rows] and [r.kind for r in local.rows].count("run") == (2 if source == "sample" else 1)
        for fmt in ("md", "csv", "latex"):
            assert render(local, fmt) == render(remote, fmt), (source, fmt)
    seeds = next(r for r in build(index, task, snap, "sample").rows if r.model == "pos")
    assert seeds.seeds == [0, 2] and seeds.cells["mae"].std is not None

    for fmt in ("md", "csv"):
        assert main(["leaderboard", "--task", TASK, "--results", str(results), "--source", "sample", "--format", fmt]) == 0
        want = capsys.readouterr().out
        assert main(["leaderboard", "--task", TASK, "--results", f"{url}@main", "--source", "sample", "--format", fmt]) == 0
        assert capsys.readouterr().out == want
        assert main(["leaderboard", "--task", TASK, "--results", f"{url}@{sha}", "--source", "sample", "--format", fmt]) == 0
        assert capsys.readouterr().out == want

    # plots read the exported per-sample tables (they travel as samples_<stamp>.csv)
    assert main(["leaderboard", "--task", TASK, "--results", str(results), "--source", "sample", "--out", str(tmp_path / "b1")]) == 0
    local_out = capsys.readouterr().out.replace(str(tmp_path / "b1"), "OUT")
    assert main(["leaderboard", "--task", TASK, "--results", url, "--source", "sample", "--out", str(tmp_path / "b2")]) == 0
    assert capsys.readouterr().out.replace(str(tmp_path / "b2"), "OUT") == local_out
    assert "bland-altman.png" in local_out

    line = error_line(capsys, ["leaderboard", "--task", TASK, "--results", "hf://datasets/org/other"])
    assert "is not in the local Hugging Face cache" in line and "hf download org/other --repo-type dataset" in line


def test_iter_records_reads_an_export_and_skips_foreign_files(results, tmp_path):
    export = tmp_path / "export"
    export_results(results, export)
    (export / TASK / "someone").mkdir()
    (export / TASK / "someone" / "results_2026.json").write_text(json.dumps({"config": {}, "results": {TASK: {"mae": 1}}}))
    (export / ".cache" / "x").mkdir(parents=True)
    recs = list(iter_records(export, TASK))
    assert len(recs) == 4 and all(Path(r["_path"]).parent.parent.parent == export for r in recs)
    assert {r["data"]["source"] for r in iter_records(export, TASK, "real")} == {"real"}
    assert len(list(iter_records(export, TASK, "sample"))) == 3
    assert list(iter_records(export, "other-task")) == []
    assert list(iter_records(tmp_path / "missing")) == []


def test_export_holds_runs_and_samples_configs_that_load_dataset_reads(results, tmp_path, hf_cache, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    export = tmp_path / "export"
    written = export_results(results, export)
    recs = [json.loads(p.read_text()) for p in written]
    runs = datasets.load_dataset(str(export), "runs", split="train", cache_dir=str(tmp_path / 'hf-cache'))
    assert len(runs) == sum(len(r["metrics"]) for r in recs)
    for rec, path in zip(recs, written):
        file = path.relative_to(export).as_posix()
        mine = runs.filter(lambda row: row["file"] == file)
        assert sorted(mine["metric"]) == sorted(rec["metrics"]) and set(mine["primary"]) == {True, False}
        for row in mine:
            m = rec["metrics"][row["metric"]]
            assert (row["value"], row["ci_low"], row["ci_high"], row["n"]) == (m["value"], m["ci_low"], m["ci_high"], m["n"])
            assert (row["task_version"], row["config_hash"], row["data_source"], row["data_fingerprint"]) == (
                rec["task"]["version"], rec["task"]["config_hash"], rec["data"]["source"], rec["data"]["fingerprint"])
            assert row["model_fingerprint"] == rec["model"]["fingerprint"] and json.loads(row["record"]) == rec
    samples = datasets.load_dataset(str(export), "samples", split="train", cache_dir=str(tmp_path / 'hf-cache'))
    tables = [path.parent / rec["files"]["samples"] for rec, path in zip(recs, written)]
    assert len(samples) == sum(len(pd.read_csv(t)) for t in tables)
    first = pd.read_csv(tables[0], dtype=str, keep_default_na=False).iloc[0].to_dict()
    assert json.loads(samples.filter(lambda r: r["file"] == written[0].relative_to(export).as_posix())[0]["row"]) == first
    assert "config_name: runs" in (export / "README.md").read_text()

    # the board reads the runs config (not the JSON files) and still equals the local one
    for path in written:
        path.unlink()
    sha = cache_repo(hf_cache, "org/parquet-results", export)
    index = TaskIndex()
    task = index.tasks[TASK]
    shutil.rmtree(results / "runs" / "sample" / TASK / "pos@limit3")
    for source in ("sample", "real"):
        assert render(build(index, task, results, source), "md") == \
            render(build(index, task, results_root(f"hf://datasets/org/parquet-results@{sha}"), source), "md")
