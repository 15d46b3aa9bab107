"""Self-checking exercises for the chapters in notebooks/.

A chapter defines a function and hands it to ``check``:

    from minisensli.exercises import check

    def relu_backward(x, upstream):
        raise NotImplementedError    # your code here
    check("ch01.relu_backward", relu_backward)

``check`` runs derandomised hypothesis properties that compare the answer with the package
(or with finite differences where those are the oracle) and prints one line:

    ch01.relu_backward: passed 40 cases
    ch01.relu_backward: not attempted yet (the function raises NotImplementedError)
    ch01.relu_backward: FAILED on x=array([...]): the gradient differs ...

It returns None and never raises, so a chapter runs with unsolved exercises; with the
environment variable MINISENSLI_STRICT_EXERCISES=1 (inherited by notebook kernels) a failed
answer raises ``ExerciseFailedError``, which is how the tests prove that every chapter's solutions
pass. Grading mode (``check(name, fn, grading=True)`` or MINISENSLI_GRADING=1) prints the score
with the verdict: only *passed* earns the exercise's points; *not attempted*, *failed*, *error*
(the answer raised) and *timeout* score 0. ``graded_check`` is the nbgrader test cells' form.
Hypothesis is imported only when a check runs: ``import minisensli`` stays light.

The exercises themselves live in one module per chapter (``minisensli/exercises/ch01.py``,
...), loaded on first use; ``exercise_names()`` lists them all.
"""

import os
import tempfile

# hypothesis keeps a cache (.hypothesis/) in the current folder, which for a reader is notebooks/;
# unless the reader chose a place, keep it in the temporary folder
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "minisensli-hypothesis"))

from ._core import (  # noqa: E402
    GRADING_ENV,
    STRICT_ENV,
    ExerciseFailedError,
    ExerciseSetupError,
    Verdict,
    check,
    exercise_names,
    graded_check,
    run_check,
)

__all__ = [
    "GRADING_ENV",
    "STRICT_ENV",
    "ExerciseFailedError",
    "ExerciseSetupError",
    "Verdict",
    "check",
    "exercise_names",
    "graded_check",
    "run_check",
]
