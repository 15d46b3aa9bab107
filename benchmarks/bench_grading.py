"""What grading a class costs: `minisensli grade` on generated students vs simply executing the
same notebooks (nbclient, one kernel per notebook) with the same number of workers.

Students are generated from the self-study edition (every chapter with its solutions): for each
student and chapter, each exercise's solution cell is dropped with probability 0.3 (the stub then
stays: "not attempted"), so scores vary. Prints both wall times, their ratio, the load average
around each phase (the machine may be shared) and whether any process was left running.
Run:  python benchmarks/bench_grading.py [--students 30] [--jobs 2] [--order plain-first|grade-first]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import pathlib
import random
import tempfile
import time


def make_class(folder: pathlib.Path, students: int, seed: int = 0) -> list[pathlib.Path]:
    import nbformat

    from minisensli.notebooks import chapter_files, to_notebook

    rng = random.Random(seed)
    chapters = [(src.stem, to_notebook(src)) for src in chapter_files()]
    paths = []
    for s in range(students):
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
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": os.path.dirname(path)}}
    ).execute()
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
    parser.add_argument("--order", choices=["plain-first", "grade-first"], default="plain-first")
    args = parser.parse_args()
    os.environ.pop("MPLBACKEND", None)  # a kernel draws its figures as a reader's would
    from minisensli.grading import grade

    with tempfile.TemporaryDirectory() as scratch:
        root = pathlib.Path(scratch)
        paths = make_class(root / "class", args.students)
        print(f"{len(paths)} notebooks ({args.students} students), {args.jobs} workers, {os.cpu_count()} cores")
        phases = ["plain", "grade"] if args.order == "plain-first" else ["grade", "plain"]
        times = {}
        for phase in phases:
            load = os.getloadavg()[0]
            if phase == "plain":
                times[phase] = execute_all(paths, args.jobs)
            else:
                start = time.perf_counter()
                book = grade(root / "class", root / "grades.csv", jobs=args.jobs)
                times[phase] = time.perf_counter() - start
                points = sorted(s["points"] for s in book["students"])
                print(
                    f"scores: min {points[0]}, median {points[len(points) // 2]}, max {points[-1]} of "
                    f"{book['students'][0]['points_possible']}"
                )
            print(f"{phase}: {times[phase]:.0f} s (load average before {load:.1f}, after {os.getloadavg()[0]:.1f})")
        print(f"grading / plain execution: {times['grade'] / times['plain']:.2f}")
        print(f"left running: {children_left() or 'nothing'}")


if __name__ == "__main__":
    main()
