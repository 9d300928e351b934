"""Recover a workflow directory after a killed Snakemake: ``deepdraw unlock``.

A Snakemake killed by SIGKILL, power loss or a preemption cannot release its lock, and the next
run stops with ``LockException``. The lock holds no process id, so Snakemake cannot tell a
stale lock from a running instance; this command can, by looking for a running Snakemake whose
working directory is the workflow's: when there is none, it runs ``snakemake --unlock``; when
there is one, it refuses and names it. ``make pipeline`` runs it first, so the same command
finishes an interrupted run (``profiles/default`` reruns the jobs it left incomplete).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from deepdraw import cliutil


def running_snakemake(workdir: str | os.PathLike, exclude: set[int] | None = None) -> list[int]:
    """Process ids of running Snakemake instances whose working directory is ``workdir``.

    A process counts when its command line names ``snakemake`` (the console script or
    ``python -m snakemake``); ``exclude`` (default: this process and its ancestors) are skipped.
    """
    import psutil

    target = Path(workdir).resolve()
    if exclude is None:
        me = psutil.Process()
        exclude = {me.pid, *(p.pid for p in me.parents())}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.info["pid"] in exclude:
            continue
        cmdline = proc.info["cmdline"] or []
        if not any(Path(part).name == "snakemake" or part == "snakemake" for part in cmdline):
            continue
        try:
            if Path(proc.cwd()).resolve() == target:
                found.append(proc.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return sorted(found)


def unlock_main(argv: list[str]) -> int:
    parser = cliutil.parser("deepdraw unlock", "Remove the lock a killed Snakemake left in the "
                            "workflow directory, unless a Snakemake runs there now.")
    parser.add_argument("--workflow", default=".", help="workflow directory (default: here)")
    parser.epilog = ("Any other arguments (e.g. --configfile my.yaml) are passed to "
                     "snakemake --unlock, as given to the interrupted run.")
    # the interrupted run's own options go to snakemake unchanged
    args, snakemake_args = parser.parse_known_args(argv)
    cliutil.setup_logging(args.log_level)
    running = running_snakemake(args.workflow)
    if running:
        print(f"deepdraw unlock: Snakemake runs in {Path(args.workflow).resolve()} "
              f"(pid {', '.join(map(str, running))}); wait for it to finish or stop it, then "
              "run the command again", file=sys.stderr)
        return 1
    if not (Path(args.workflow) / ".snakemake" / "locks").is_dir():
        return 0
    done = subprocess.run(["snakemake", "--unlock", *snakemake_args], cwd=args.workflow,
                          capture_output=True, text=True)
    if done.returncode != 0:
        print(f"deepdraw unlock: snakemake --unlock failed:\n{done.stderr}", file=sys.stderr)
    return done.returncode
