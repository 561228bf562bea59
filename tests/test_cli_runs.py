"""``storehouse add``, ``patch`` and ``record``: runs made and changed from the command line (issue #14)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from storehouse import Storehouse
from storehouse.cli import main


def _run(data_dir: Path, *argv: str) -> int:
    return main([*argv, "--data-dir", str(data_dir)])


def _record(data_dir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "storehouse", "record", "demo", "--data-dir", str(data_dir), *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def _only_run(data_dir: Path) -> dict[str, object]:
    with Storehouse(data_dir) as store:
        [summary] = store.list_executions("demo").items
        return store.get_execution("demo", summary["id"])


def test_add_creates_a_run_from_flags(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["add", "demo", "--name", "triage", "--status", "running", "--tag", "a", "--tag", "b", "--task", "T-1"]
    assert _run(data_dir, *argv, "--input", '{"q": 1}', "--metadata", '{"by": "cron"}', "--id", "run-1") == 0
    assert capsys.readouterr().out == "created demo/run-1 triage: running, version 1\n"
    with Storehouse(data_dir) as store:
        run = store.get_execution("demo", "run-1")
    assert (run["name"], run["status"], run["tags"], run["taskId"]) == ("triage", "running", ["a", "b"], "T-1")
    assert (run["input"], run["metadata"]) == ({"q": 1}, {"by": "cron"})
    assert _run(data_dir, "add", "demo", "--json") == 0
    assert json.loads(capsys.readouterr().out)["status"] == "completed"


def test_add_with_bad_json_creates_nothing(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(data_dir, "add", "demo", "--input", "{nope") == 1
    assert "--input must be JSON" in capsys.readouterr().err
    assert _run(data_dir, "add", "demo", "--metadata", "[1]") == 1
    assert "metadata" in capsys.readouterr().err
    assert not (data_dir / "projects" / "demo" / "executions").exists() or not any(
        (data_dir / "projects" / "demo" / "executions").iterdir()
    )


def test_patch_changes_the_fields_given_and_checks_the_version(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(data_dir, "add", "demo", "--id", "r1", "--status", "running", "--name", "triage") == 0
    capsys.readouterr()
    argv = ["patch", "demo", "r1", "--status", "failed", "--error", "boom", "--tokens-in", "100", "--tokens-out", "20"]
    assert _run(data_dir, *argv, "--cost", "0.25", "--merge-patch", '{"output": {"n": 1}}', "--if-match", "1") == 0
    assert capsys.readouterr().out == "patched demo/r1 triage: failed, version 2\n"
    with Storehouse(data_dir) as store:
        run = store.get_execution("demo", "r1")
    assert (run["status"], run["error"], run["costUSD"], run["output"]) == ("failed", "boom", 0.25, {"n": 1})
    assert run["tokenUsage"] == {"input": 100, "output": 20, "total": 120}
    assert _run(data_dir, "patch", "demo", "r1", "--name", "again", "--if-match", "1") == 1
    assert "version" in capsys.readouterr().err
    assert _run(data_dir, "patch", "demo", "nosuch", "--status", "failed") == 1
    assert "execution nosuch not found in project demo" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        _run(data_dir, "patch", "demo", "r1")
    assert exited.value.code == 2
    assert "nothing to change" in capsys.readouterr().err


def test_record_keeps_a_command_that_succeeds_as_a_completed_run(data_dir: Path) -> None:
    script = "import sys; print('hello'); sys.stderr.write('a warning\\n')"
    done = _record(data_dir, "--name", "greet", "--tag", "cli", "--", sys.executable, "-c", script)
    assert done.returncode == 0
    assert done.stdout == "hello\n"  # the command's output reaches our stdout, and its stderr ours
    assert "a warning\n" in done.stderr
    run = _only_run(data_dir)
    assert (run["name"], run["status"], run["tags"], run["error"]) == ("greet", "completed", ["cli"], None)
    assert isinstance(run["duration"], int)
    assert run["metadata"] == {"exitCode": 0}
    assert run["input"] == {"command": [sys.executable, "-c", script]}


def test_record_keeps_a_failing_command_with_its_exit_code_and_the_end_of_its_stderr(data_dir: Path) -> None:
    script = "import sys; sys.stderr.write('x' * 5000 + 'the real reason\\n'); sys.exit(3)"
    done = _record(data_dir, "--", sys.executable, "-c", script)
    assert done.returncode == 3  # record exits with the command's code
    assert done.stderr.count("x") >= 5000  # all of stderr reached the terminal
    run = _only_run(data_dir)
    assert run["status"] == "failed"
    assert run["metadata"] == {"exitCode": 3}
    error = str(run["error"])
    assert error.startswith("exit code 3; stderr ends:\n")
    assert error.endswith("the real reason\n")
    assert len(error) < 2100  # the tail, not the whole of stderr
    assert run["name"] == Path(sys.executable).name


def test_record_of_a_command_that_does_not_exist_fails_the_run(data_dir: Path) -> None:
    done = _record(data_dir, "--", "no-such-command-here")
    assert done.returncode == 127
    run = _only_run(data_dir)
    assert run["status"] == "failed"
    assert "could not start no-such-command-here" in str(run["error"])


def test_record_runs_no_shell_unless_asked(data_dir: Path) -> None:
    done = _record(data_dir, "--", sys.executable, "-c", "import sys; print(sys.argv[1:])", "$HOME", "a b")
    assert done.stdout == "['$HOME', 'a b']\n"


def test_ctrl_c_marks_the_recorded_run_cancelled(data_dir: Path) -> None:
    command = [sys.executable, "-m", "storehouse", "record", "demo", "--data-dir", str(data_dir), "--"]
    command += [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"started\n"
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the signal to the terminal's process group
        assert process.wait(30) == 130
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    run = _only_run(data_dir)
    assert (run["status"], run["error"]) == ("cancelled", "interrupted (Ctrl-C)")


def test_record_without_a_command_is_a_usage_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _run(data_dir, "record", "demo")
    assert exited.value.code == 2
    assert "give the command to run after --" in capsys.readouterr().err
    assert not data_dir.exists()


@pytest.mark.parametrize("command", ["add", "patch", "record"])
def test_the_run_commands_have_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert f"usage: storehouse {command}" in capsys.readouterr().out
