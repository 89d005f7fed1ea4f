"""The HTML leaderboard in a real headless browser (Debian's chromium): it loads without a script
error or console message, lists the rows, and sorts when a header is clicked (``#sort=col[:dir]``
in the URL clicks the header on load). Chromium is installed with apt when missing and we are root."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness.leaderboard import render

from test_leaderboard import REAL_TASK, board, write_run

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]


@pytest.fixture(scope="session")
def chromium() -> str:
    if shutil.which("chromium") is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
            try:
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
            except subprocess.TimeoutExpired:
                pytest.skip(f"chromium could not be installed: {' '.join(cmd)} timed out")
            if done.returncode:
                pytest.skip(f"chromium could not be installed: {' '.join(cmd)} failed: {done.stderr.strip()[-200:]}")
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get)")
    return path


def dump(chromium: str, page: Path, fragment: str = "") -> tuple[str, str]:
    """The DOM after the page's scripts ran, and the browser's log."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri() + fragment],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    return done.stdout, done.stderr


def row_models(dom: str) -> list[str]:
    return re.findall(r'<tr class="\w+" data-i="\d+" data-model="([^"]*)"', dom)


def assert_clean(dom: str, log: str) -> None:
    assert 'data-ready="1"' in dom, "the page's script did not finish"
    assert '<pre id="js-error"' not in dom, re.search(r'<pre id="js-error">(.*?)</pre>', dom).group(1)
    assert not [ln for ln in log.splitlines() if ":CONSOLE" in ln]


@pytest.fixture
def page(tmp_path):
    """A real-data board: runs with a missing value, a two-seed row, and the published rows."""
    results = tmp_path / "results"
    write_run(results, REAL_TASK, "pos", {"mae": (3.0, 2.0, 4.0), "rmse": 4.0, "pearson": 0.8}, source="real", seed=0, folder="pos@0")
    write_run(results, REAL_TASK, "pos", {"mae": (3.4, 2.2, 4.4), "rmse": 4.4, "pearson": 0.7}, source="real", seed=1, folder="pos@1")
    write_run(results, REAL_TASK, "chrom", {"mae": (5.0, 4.5, 5.5), "rmse": 6.0, "pearson": 0.9}, source="real")
    write_run(results, REAL_TASK, "green", {"mae": (9.0, 8.0, 10.0), "rmse": 12.0}, source="real")
    table = board(results, REAL_TASK)
    path = tmp_path / "board.html"
    path.write_text(render(table, "html"), encoding="utf-8")
    return path, table


def test_page_loads_cleanly_with_every_row(chromium, page):
    path, table = page
    dom, log = dump(chromium, path)
    assert_clean(dom, log)
    assert row_models(dom) == [r.model for r in table.rows]
    assert len(table.rows) > 4 and sum(r.kind == "published" for r in table.rows) == dom.count('<tr class="published"')


def test_clicking_headers_sorts_best_first_then_reverses(chromium, page):
    path, table = page

    def expected(metric: str, best_first: bool) -> list[str]:
        direction = table.column(metric).direction
        defined = [r for r in table.rows if r.cells[metric].value is not None]
        undefined = [r.model for r in table.rows if r.cells[metric].value is None]  # last, in table order
        ascending = (direction == "min") == best_first
        ordered = sorted(defined, key=lambda r: r.cells[metric].value, reverse=not ascending)
        return [r.model for r in ordered] + undefined

    for fragment, want in [("#sort=rmse", expected("rmse", True)),          # ↓: ascending
                           ("#sort=pearson", expected("pearson", True)),    # ↑: descending
                           ("#sort=rmse:desc", expected("rmse", False)),    # a second click reverses
                           ("#sort=model", sorted((r.model for r in table.rows), key=str.lower))]:
        dom, log = dump(chromium, path, fragment)
        assert_clean(dom, log)
        assert row_models(dom) == want, fragment
        key = fragment[6:].split(":")[0]
        assert re.search(rf'data-key="{key}"[^>]*aria-sort="(a|de)scending"', dom), fragment
    assert expected("rmse", True) != [r.model for r in table.rows]  # the sort changed the order


def test_a_script_error_would_be_caught(chromium, page, tmp_path):
    path, _ = page
    broken = tmp_path / "broken.html"
    broken.write_text(path.read_text().replace("</body>", "<script>noSuchFunction();</script></body>"))
    dom, log = dump(chromium, broken)
    assert '<pre id="js-error">' in dom and "noSuchFunction" in dom
    assert any(":CONSOLE" in ln and "noSuchFunction" in ln for ln in log.splitlines())
