"""Recovery after a killed Snakemake: a stale lock is removed, a running instance is not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from deepdraw.recovery import running_snakemake, unlock_main

SNAKEFILE = """
rule all:
    input: "done.txt"

rule slow:
    output: "done.txt"
    shell: "sleep {wait} && echo ok > {{output}}"
"""


def _snakemake(workdir, *args, **kwargs):
    return subprocess.run(["snakemake", "--cores", "1", *args], cwd=workdir,
                          capture_output=True, text=True, **kwargs)


def test_a_stale_lock_is_removed_and_the_same_command_finishes(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(wait=30))
    run = subprocess.Popen(["snakemake", "--cores", "1"], cwd=tmp_path, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not list((tmp_path / ".snakemake" / "locks").glob("*")) and time.time() < deadline:
        time.sleep(0.2)
    assert running_snakemake(tmp_path) == [run.pid]
    assert unlock_main(["--workflow", str(tmp_path)]) == 1  # never while it runs
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert running_snakemake(tmp_path) == []
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(wait=0))
    again = _snakemake(tmp_path)
    assert again.returncode != 0 and "LockException" in again.stdout + again.stderr
    # the interrupted run's options reach snakemake --unlock
    assert unlock_main(["--workflow", str(tmp_path), "--snakefile", "Snakefile"]) == 0
    finished = _snakemake(tmp_path, "--rerun-incomplete")
    assert finished.returncode == 0, finished.stderr
    assert (tmp_path / "done.txt").read_text() == "ok\n"


def test_nothing_to_do_without_a_lock(tmp_path):
    assert unlock_main(["--workflow", str(tmp_path)]) == 0


@pytest.mark.skipif(sys.platform != "linux", reason="process working directories via /proc")
def test_only_snakemake_processes_in_this_directory_count(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    procs = [subprocess.Popen(sleeper + ["snakemake"], cwd=tmp_path),
             subprocess.Popen(sleeper + ["snakemake"], cwd=other),
             subprocess.Popen(sleeper + ["something-else"], cwd=tmp_path)]
    try:
        time.sleep(0.5)
        assert running_snakemake(tmp_path) == [procs[0].pid]
        assert running_snakemake(other) == [procs[1].pid]
    finally:
        for p in procs:
            p.kill()
            p.wait()
