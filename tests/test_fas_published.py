"""tasks/fas/published.yaml: MMDG benchmark numbers (fas.md §1.6-§1.8), parsed against stub tasks."""
from __future__ import annotations

import copy
import statistics
import textwrap
from pathlib import Path

import pytest
import yaml

from harness.errors import HarnessError
from harness.published import load_published
from harness.task import PROJECT_ROOT, TaskIndex

FILE = PROJECT_ROOT / "tasks" / "fas" / "published.yaml"
P1 = ["mmdg-p1-cps-w", "mmdg-p1-cpw-s", "mmdg-p1-csw-p", "mmdg-p1-psw-c"]
P2 = [f"mmdg-p2-{t.removeprefix('mmdg-p1-')}-missing-{m}" for m in ("d", "ir", "d-ir") for t in P1]
P3 = ["mmdg-p3-cw-ps", "mmdg-p3-ps-cw"]
GROUPS = {"mmdg-p1": P1, "mmdg-p3": P3,
          **{f"mmdg-p2-missing-{m}": [t for t in P2 if t.endswith(f"-missing-{m}")] for m in ("d", "ir", "d-ir")}}
METRICS = {"hter_test_eer", "auc"}
N_P1, N_P3 = 19, 18  # rows in fas.md §1.6 and §1.8
N_P2 = 18  # fas.md §1.7 (PA-FAS Table 2, three Qwen rows spelt out): printed averages only, no per-task rows
P2_GROUPS = ["mmdg-p2-missing-d", "mmdg-p2-missing-ir", "mmdg-p2-missing-d-ir"]


def stub_index(folder: Path) -> TaskIndex:
    """Minimal task files for every MMDG task name, metrics hter_test_eer (min) and auc (max)."""
    for name in [*P1, *P2, *P3]:
        (folder / f"{name}.yaml").write_text(textwrap.dedent(f"""
            task: {name}
            version: 1
            family: fas
            datasets: {{test: [W]}}
            metrics: [{{name: hter_test_eer, direction: min}}, {{name: auc, direction: max}}]
            primary_metric: hter_test_eer
        """))
    index = TaskIndex([folder])
    assert not index.errors
    return index


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    return load_published(stub_index(tmp_path_factory.mktemp("fas_tasks")), [FILE])


def by(rows, entry: str) -> dict:
    return {r.model: r for r in rows if r.entry == entry}


def test_row_counts_sources_and_status(rows):
    assert {r.entry for r in rows} == {*P1, *P3, "mmdg-p1", "mmdg-p3", *P2_GROUPS}
    for task in P1 + ["mmdg-p1"]:
        assert len(by(rows, task)) == N_P1, task
    for task in P3 + ["mmdg-p3"]:
        assert len(by(rows, task)) == N_P3, task
    assert not [r for r in rows if r.entry in P2]  # P2: group rows only
    for group in P2_GROUPS:
        assert len(by(rows, group)) == N_P2, group
    assert len(rows) == 5 * N_P1 + 3 * N_P3 + 3 * N_P2
    for r in rows:
        assert r.status == "cites" and r.source.strip(), r
        assert "threshold at target EER" in r.note and "hter_val" in r.note, r
        assert set(r.metrics) == METRICS, r
        assert all(0.0 <= v <= 1.0 for v in r.metrics.values()), r  # fractions, not percent
    assert {"mmdg", "dadm", "mmda", "pa-fas", "ssdg", "flip"} <= set(by(rows, "mmdg-p1-cps-w"))
    assert "mmda" not in by(rows, "mmdg-p3-cw-ps")  # MMDA's P3 numbers were not retrieved


def test_spot_values_against_fas_md(rows):
    # fas.md §1.6: MMDG PSW->C 29.93/76.52; §1.6: MMDA CPS->W 1.22/99.99; §1.8: DADM PS->CW 20.40/89.51
    assert by(rows, "mmdg-p1-psw-c")["mmdg"].metrics == pytest.approx({"hter_test_eer": 0.2993, "auc": 0.7652})
    assert by(rows, "mmdg-p1-cps-w")["mmda"].metrics == pytest.approx({"hter_test_eer": 0.0122, "auc": 0.9999})
    assert by(rows, "mmdg-p3-ps-cw")["dadm"].metrics == pytest.approx({"hter_test_eer": 0.2040, "auc": 0.8951})
    assert "PA-FAS" in by(rows, "mmdg-p3-ps-cw")["dadm"].source
    assert "MMDA" in by(rows, "mmdg-p1-cps-w")["mmda"].source


def test_group_means_recomputed(rows):
    # independent: the per-task values typed from fas.md (percent), averaged here
    mmdg_p1 = [(12.79, 93.83), (15.32, 92.86), (18.95, 88.64), (29.93, 76.52)]
    pafas_p3 = [(2.53, 99.54), (28.75, 77.13)]
    for entry, model, parts in (("mmdg-p1", "mmdg", mmdg_p1), ("mmdg-p3", "pa-fas", pafas_p3)):
        row = by(rows, entry)[model]
        assert row.parts == tuple(GROUPS[entry]) and row.aggregate == "mean"
        assert row.metrics["hter_test_eer"] == pytest.approx(statistics.fmean(h for h, _ in parts) / 100)
        assert row.metrics["auc"] == pytest.approx(statistics.fmean(a for _, a in parts) / 100)
    assert by(rows, "mmdg-p1")["mmdg"].printed == pytest.approx({"hter_test_eer": 0.1924, "auc": 0.8796})
    for entry in ("mmdg-p1", "mmdg-p3"):
        for model, row in by(rows, entry).items():
            for m in METRICS:
                parts = [by(rows, p)[model].metrics[m] for p in GROUPS[entry]]
                assert row.metrics[m] == pytest.approx(statistics.fmean(parts)), (entry, model, m)


# printed averages that fas.md says are wrong: left out of `printed` (published.py raises on a
# mismatch, which would fail `harness validate`), quoted in the row's note; putting one back must fail.
WRONG = [("mmdg-p1", "ssdg", {"hter_test_eer": 0.3732, "auc": 0.6825}),
         ("mmdg-p1", "clip", {"hter_test_eer": 0.2463, "auc": 0.83}),
         ("mmdg-p1", "mmda", {"auc": 0.9894}),
         ("mmdg-p3", "ssdg", {"hter_test_eer": 0.3566}),
         ("mmdg-p3", "sa-fas", {"hter_test_eer": 0.6179, "auc": 0.3089}),
         ("mmdg-p3", "qwen2.5-vl-3b", {"hter_test_eer": 0.398})]


@pytest.mark.parametrize("entry,model,printed", WRONG)
def test_wrong_printed_averages_are_noted_and_would_be_flagged(rows, tmp_path, entry, model, printed):
    row = by(rows, entry)[model]
    assert not set(printed) & set(row.printed) and "left out of printed" in row.note
    data = yaml.safe_load(FILE.read_text())
    bad = copy.deepcopy(data)
    raw = next(r for r in bad[entry]["rows"] if r["model"] == model)
    raw["printed"] = {**raw.get("printed", {}), **printed}
    path = tmp_path / "published.yaml"
    path.write_text(yaml.safe_dump(bad))
    (tmp_path / "tasks").mkdir()
    index = stub_index(tmp_path / "tasks")
    with pytest.raises(HarnessError, match="disagrees with the recomputed mean"):
        load_published(index, [path])


def test_loads_against_the_project_tasks_once_they_exist():
    index = TaskIndex()
    missing = [n for n in [*P1, *P3] if n not in index.tasks]
    if missing:
        pytest.skip(f"FAS task files not written yet: {missing[:3]}...")
    rows = load_published(index, [FILE])
    assert len(rows) == 5 * N_P1 + 3 * N_P3 + 3 * N_P2


def test_p2_rows_are_printed_only_averages(rows):
    # fas.md §1.7 (PA-FAS Table 2): no per-task P2 numbers, one average per missing case and method
    for group in P2_GROUPS:
        entries = by(rows, group)
        assert len(entries) == N_P2 and "mmda" not in entries  # MMDA's P2 numbers were not retrieved
        assert set(entries) == set(by(rows, "mmdg-p1")) - {"mmda"}
        for r in entries.values():
            assert r.printed_only and r.printed == {} and r.parts == tuple(GROUPS[group]), r
            assert "Table 2" in r.source and "UNCONFIRMED" in r.source, r
            assert r.to_leaderboard()["printed_only"] is True
        # the labels are the P1 ones
        assert {m: r.label for m, r in entries.items()} == {m: r.label for m, r in by(rows, "mmdg-p1").items() if m != "mmda"}
    for r in rows:
        assert r.printed_only == r.entry.startswith("mmdg-p2-missing-"), r
    # spot values, fas.md §1.7 (percent): MMDG Missing D 24.89/82.39; PA-FAS Missing D&IR 14.67/89.73
    assert by(rows, "mmdg-p2-missing-d")["mmdg"].metrics == pytest.approx({"hter_test_eer": 0.2489, "auc": 0.8239})
    assert by(rows, "mmdg-p2-missing-d-ir")["pa-fas"].metrics == pytest.approx({"hter_test_eer": 0.1467, "auc": 0.8973})
    assert by(rows, "mmdg-p2-missing-ir")["flip"].metrics == pytest.approx({"hter_test_eer": 0.2406, "auc": 0.8404})
    # the Qwen rows are the same in all three cases (these models ignore D and IR)
    for model in ("qwen2.5-vl-3b", "qwen2.5-vl-3b-sft", "qwen2.5-vl-3b-sft-grpo"):
        assert len({tuple(sorted(by(rows, g)[model].metrics.items())) for g in P2_GROUPS}) == 1
