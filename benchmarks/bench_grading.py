"""What grading a class costs: `minisensli grade` on generated students vs simply executing the
same notebooks (nbclient, one kernel per notebook) with the same number of workers.

Students are generated from the self-study edition (every chapter with its solutions): for each
student and chapter, each exercise's solution cell is dropped with probability 0.3 (the stub then
stays: "not attempted"), so scores vary. Prints both wall times, their ratio, the load average
around each phase (the machine may be shared) and whether any process was left running.

With ``--groups K`` the class is split into K groups of students, and each group is executed and
graded back to back (the order alternating from group to group), so that a change of the
machine's load during the long run falls on both phases alike; the totals are the sums over the
groups, and the spread of the per-group ratios is printed.
Run:  python benchmarks/bench_grading.py [--students 30] [--jobs 2] [--groups 5]
          [--order plain-first|grade-first]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import pathlib
import random
import tempfile
import time


def make_class(folder: pathlib.Path, students: int, seed: int = 0, first: int = 0) -> list[pathlib.Path]:
    import nbformat

    from minisensli.notebooks import chapter_files, to_notebook

    rng = random.Random(seed)
    chapters = [(src.stem, to_notebook(src)) for src in chapter_files()]
    paths = []
    for s in range(first, first + students):
        for stem, notebook in chapters:
            cells = [c for c in notebook.cells if not ("solution" in c.metadata.get("tags", []) and rng.random() < 0.3)]
            copy = nbformat.from_dict({**notebook, "cells": cells})
            target = folder / f"student{s:03d}" / f"{stem}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(copy, target)
            paths.append(target)
    return paths


def _execute(path: str) -> float:
    import nbformat
    from nbclient import NotebookClient

    start = time.perf_counter()
    for attempt in range(3):
        notebook = nbformat.read(path, as_version=4)
        try:
            NotebookClient(
                notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": os.path.dirname(path)}}
            ).execute()
            break
        except RuntimeError as err:
            # two kernels started at the same moment by two workers can be handed the same TCP port
            # (jupyter_client picks free ports by binding and releasing them); the loser dies before
            # replying: start it again, as a teacher re-running the notebook would (counted in the time)
            if "Kernel died before replying" not in str(err) or attempt == 2:
                raise
            print(f"{path}: kernel died at start ({err}); starting it again", flush=True)
    return time.perf_counter() - start


def execute_all(paths: list[pathlib.Path], jobs: int) -> float:
    start = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
        list(pool.map(_execute, map(str, paths)))
    return time.perf_counter() - start


def children_left() -> list[str]:
    own, left = os.getpid(), []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == own:
                left.append(stat[:60])
    return left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--groups", type=int, default=1, help="interleave plain and grading over this many groups")
    parser.add_argument("--order", choices=["plain-first", "grade-first"], default="plain-first")
    parser.add_argument("--only", type=int, help="run only this group (0-based) of the split, e.g. to finish a run")
    args = parser.parse_args()
    if not 1 <= args.groups <= args.students:
        parser.error(f"--groups must lie in 1..{args.students}")
    if args.only is not None and not 0 <= args.only < args.groups:
        parser.error(f"--only must lie in 0..{args.groups - 1}")
    os.environ.pop("MPLBACKEND", None)  # a kernel draws its figures as a reader's would
    from minisensli.grading import grade

    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(scratch)
        sizes = [args.students // args.groups + (k < args.students % args.groups) for k in range(args.groups)]
        groups = {}
        for k, size in enumerate(sizes):  # group k: students first..first+size-1, drawn with seed k
            if args.only is None or k == args.only:
                groups[k] = make_class(root / f"class{k}", size, seed=k, first=sum(sizes[:k]))
        total, students = sum(len(g) for g in groups.values()), sum(sizes[k] for k in groups)
        print(
            f"{total} notebooks ({students} of {args.students} students, {total // students} chapters each), "
            f"{args.jobs} workers, {os.cpu_count()} cores, {args.groups} group(s)"
            + (f", only group {args.only}" if args.only is not None else "")
        )
        times = {"plain": 0.0, "grade": 0.0}
        ratios, points, possible = [], [], 0
        for k, paths in groups.items():
            first_plain = (args.order == "plain-first") == (k % 2 == 0)
            group_times = {}
            for phase in ["plain", "grade"] if first_plain else ["grade", "plain"]:
                load = os.getloadavg()[0]
                start = time.perf_counter()
                if phase == "plain":
                    execute_all(paths, args.jobs)
                else:
                    book = grade(root / f"class{k}", root / f"grades{k}.csv", jobs=args.jobs)
                    points += [s["points"] for s in book["students"]]
                    possible = book["students"][0]["points_possible"]
                group_times[phase] = time.perf_counter() - start
                print(
                    f"group {k}: {phase} {group_times[phase]:.0f} s "
                    f"(load average before {load:.1f}, after {os.getloadavg()[0]:.1f})"
                )
            times = {p: times[p] + group_times[p] for p in times}
            ratios.append(group_times["grade"] / group_times["plain"])
        points.sort()
        print(f"scores: min {points[0]}, median {points[len(points) // 2]}, max {points[-1]} of {possible}")
        print(f"plain execution: {times['plain']:.0f} s, grading: {times['grade']:.0f} s")
        print(
            f"grading / plain execution: {times['grade'] / times['plain']:.3f} "
            f"(per group: min {min(ratios):.3f}, median {sorted(ratios)[len(ratios) // 2]:.3f}, max {max(ratios):.3f})"
        )
        print(f"left running: {children_left() or 'nothing'}")


if __name__ == "__main__":
    main()
