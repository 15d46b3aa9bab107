"""Teaching a class: the exercise list, grading students' notebooks, the nbgrader export.

    minisensli exercises                       chapter, name, points, statement of every exercise
    minisensli grade SUBMISSIONS --out grades.csv [--jobs N] [--timeout S] [--resume]

``grade`` runs each notebook in a fresh, limited process (``sandbox``) and never reads the
notebook's stored outputs; see ``grader`` for the grade book and ``course`` for how exercises
map to the functions that answer them.
"""

from .course import Task, course_tasks
from .grader import GradingError, GradingInterrupted, Limits, grade

__all__ = ["GradingError", "GradingInterrupted", "Limits", "Task", "course_tasks", "grade"]
