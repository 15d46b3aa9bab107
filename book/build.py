"""Build the minisensli book: python book/build.py [--out DIR]

1. Makes sure MathJax 3.2.2 is in book/_static/mathjax (fetched once with `npm pack` from the
   npm registry, its SHA-256 checked against the pin below, only the combined TeX/MathML
   component and its woff-v2 fonts unpacked), so that math renders with no network.
2. Runs sphinx-build with -W (every warning, error or stderr output of a chapter fails the
   build), executing every chapter in a fresh kernel with strict exercise checks, no
   MPLBACKEND override (the figures must reach the page) and hypothesis's storage kept out of
   the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

BOOK = pathlib.Path(__file__).resolve().parent
MATHJAX_VERSION = "3.2.2"
MATHJAX_SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
MATHJAX_DIR = BOOK / "_static" / "mathjax"
MATHJAX_FILES = ("package/es5/tex-mml-chtml.js", "package/es5/output/chtml/fonts/woff-v2/")


def fetch_mathjax() -> None:
    if (MATHJAX_DIR / "tex-mml-chtml.js").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(
            "book: MathJax is not in book/_static/mathjax and npm is not installed to fetch it "
            f"(install Node.js/npm, or unpack mathjax@{MATHJAX_VERSION}'s es5/ folder there)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--pack-destination", tmp, "--silent"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tarball = pathlib.Path(tmp) / f"mathjax-{MATHJAX_VERSION}.tgz"
        digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
        if digest != MATHJAX_SHA256:
            sys.exit(f"book: mathjax-{MATHJAX_VERSION}.tgz has SHA-256 {digest}, expected {MATHJAX_SHA256}")
        staging = pathlib.Path(tmp) / "mathjax"
        with tarfile.open(tarball) as archive:
            for member in archive.getmembers():
                if member.isfile() and member.name.startswith(MATHJAX_FILES):
                    target = staging / member.name.removeprefix("package/es5/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.extractfile(member).read())
        MATHJAX_DIR.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(MATHJAX_DIR, ignore_errors=True)
        shutil.move(str(staging), MATHJAX_DIR)
    print(f"book: MathJax {MATHJAX_VERSION} unpacked into {MATHJAX_DIR.relative_to(BOOK.parent)}")


def build(out: pathlib.Path, jobs: int) -> int:
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # inherited by the kernels: figures would silently vanish
    env["MINISENSLI_STRICT_EXERCISES"] = "1"
    if jobs > 1:  # kernels run side by side: one BLAS thread each, or they fight over the cores
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(name, "1")
    with tempfile.TemporaryDirectory() as tmp:
        env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(pathlib.Path(tmp) / "hypothesis")
        command = [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-j",
            str(jobs),
            "-b",
            "html",
            str(BOOK),
            str(out),
        ]
        start = time.perf_counter()
        code = subprocess.run(command, env=env).returncode
    status = "built" if code == 0 else "FAILED"
    print(f"book: {status} in {time.perf_counter() - start:.0f} s -> {out}/index.html")
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=BOOK / "_build" / "html", help="output folder")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="chapters executed in parallel")
    args = parser.parse_args()
    fetch_mathjax()
    return build(args.out, args.jobs)


if __name__ == "__main__":
    sys.exit(main())
