"""Every benchmark runs after the install the README gives it (``pip install -e '.[bench]'``: no pytest, no test
tools) and at any size, a tiny one included (issue #14 item 10). Each is run as a script at a size of a few runs,
with the test-only packages made unimportable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent / "benchmarks"
TEST_ONLY = ("pytest", "_pytest", "pytest_asyncio", "hypothesis", "schemathesis", "coverage")
WITHOUT_TEST_TOOLS = f"""
import runpy, sys
for name in {TEST_ONLY!r}:
    sys.modules[name] = None  # 'import pytest' raises ImportError, as after pip install -e '.[bench]'
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


def run(script: str, *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TEST_TOOLS, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=BENCHMARKS.parent.parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("executions", ["1", "7"])
def test_bench_core_runs_at_any_size(executions: str) -> None:
    assert f"executions             {executions}" in run("bench_core.py", "--executions", executions)


def test_bench_history_runs_at_a_tiny_size() -> None:
    out = run("bench_history.py", "--entries", "5", "--repeat", "2")
    assert "read limit=50 of the big log" in out


def test_bench_compare_runs_below_a_page_of_runs() -> None:
    """It crashed below ~2,000 runs (the cursor walk ran off the end: no median for empty data)."""
    out = run("bench_compare.py", "--executions", "3", "--writes", "16", "--seconds", "1", "--requests", "20")
    assert "library_cursor_deep_ms" in out
    assert "http_list_per_s" in out


def test_bench_web_runs_below_a_page_of_runs() -> None:
    """It asked for ``cursor=None`` (400) and waited for 50 rows that a small project never shows."""
    out = run("bench_web.py", "--executions", "3", timeout=600)
    assert "runs  view until 3 rows show" in out


def test_a_benchmark_refuses_a_size_of_none() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_core.py"), "--executions", "0"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "must be at least 1" in done.stderr
