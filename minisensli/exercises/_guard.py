"""What keeps a check honest while the reader's function runs inside it.

- ``switched_off(exercise, names)``: the package and third-party functions an exercise asks the
  reader to write themselves are unavailable while the answer runs. A Python function is
  switched off by swapping its code object, so every alias of it (``ms.sensli.dense_multipliers``,
  a name imported earlier with ``from ... import``) raises ``ForbiddenCallError``; anything else
  (a C function) is replaced in the module that defines it.
- ``Snapshot``: the state of the package, the checker's helpers, NumPy's and hypothesis's
  modules and the builtins (module attributes, class attributes, function code and defaults),
  taken before an answer runs and put back right after it returns, so that a monkeypatch made
  by one answer (or by the notebook around it) cannot change a comparison, an oracle or a later
  check.
- ``time_bound(seconds)``: SIGALRM-based limit on one check (main thread only; elsewhere the
  check runs unbounded). It keeps raising every half second until the check is left, so an
  answer that swallows the first interruption with ``except BaseException`` is stopped anyway.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import signal
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

# modules whose state a check depends on, put back after every answer: the package (incl. the
# checker and its oracles), NumPy's namespaces and the builtins. Walking every module of NumPy,
# hypothesis and SciPy after each call would cost about 15 ms a call (1.7 ms for these), so the
# deep set is used once, by the grader, after a notebook's own code ran.
_GUARDED_PREFIXES = ("minisensli",)
_GUARDED_EXACT = ("builtins", "math", "operator", "functools", "itertools", "numpy", "numpy.linalg", "scipy.stats")
_DEEP_PREFIXES = ("minisensli", "numpy", "hypothesis", "scipy", "_pytest", "pytest")


class ForbiddenCallError(Exception):
    """The answer called a function the exercise asks the reader to write themselves."""


class CheckTimeoutError(BaseException):
    """One check ran past its time bound. A BaseException: an answer's ``except Exception``
    does not swallow it."""


def _resolve(dotted: str) -> tuple[Any, str, Any] | None:
    """(owner, attribute, value) for 'package.module.name' or 'package.module.Class.method';
    None when the module is not installed (nothing to switch off)."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            if module_name not in sys.modules and importlib.util.find_spec(module_name) is None:
                continue
            owner: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        for attribute in parts[split:-1]:
            owner = getattr(owner, attribute)
        return owner, parts[-1], getattr(owner, parts[-1])
    return None


def _raiser_code(function: types.FunctionType, exercise: str, dotted: str) -> types.CodeType:
    """A code object with the same free variables as ``function`` (so it can be swapped in)
    whose body raises ForbiddenCallError naming the exercise and the function."""
    message = forbidden_message(exercise, dotted)
    freevars = function.__code__.co_freevars
    lines = ["def _outer():"]
    lines += [f"    {name} = None" for name in freevars]
    lines.append("    def _switched_off(*args, **kwargs):")
    if freevars:
        lines.append("        " + ", ".join(freevars))
    lines.append("        from minisensli.exercises._guard import ForbiddenCallError")
    lines.append(f"        raise ForbiddenCallError({message!r})")
    lines.append("    return _switched_off")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), f"<switched off: {dotted}>", "exec"), namespace)
    return namespace["_outer"]().__code__


def _python_function(value: Any) -> Any:
    """The Python function behind ``value``: a classmethod's or staticmethod's function, the
    implementation behind NumPy's dispatcher (np.isclose) or a functools.wraps wrapper."""
    for _ in range(5):
        if isinstance(value, types.FunctionType):
            return value
        inner = getattr(value, "__func__", None) or getattr(value, "_implementation", None)
        if inner is None:
            return value
        value = inner
    return value


def forbidden_message(exercise: str, dotted: str) -> str:
    return f"{exercise} asks you to write this yourself: {dotted} is switched off while your function is checked"


@contextlib.contextmanager
def switched_off(exercise: str, names: tuple[str, ...]) -> Iterator[None]:
    """Within the block, calling any of ``names`` raises ForbiddenCallError; restored after."""
    undo: list[tuple[str, Any, str, Any]] = []
    try:
        for dotted in names:
            found = _resolve(dotted)
            if found is None:
                continue
            owner, attribute, value = found
            target = _python_function(value)
            if isinstance(target, types.FunctionType):
                undo.append(("code", target, "__code__", target.__code__))
                target.__code__ = _raiser_code(target, exercise, dotted)
            else:
                message = forbidden_message(exercise, dotted)

                def _switched_off(*args: Any, _message: str = message, **kwargs: Any) -> Any:
                    raise ForbiddenCallError(_message)

                undo.append(("attr", owner, attribute, owner.__dict__.get(attribute, value)))
                setattr(owner, attribute, _switched_off)
        yield
    finally:
        for _kind, owner, attribute, value in reversed(undo):
            setattr(owner, attribute, value)


def _guarded_modules(deep: bool = False) -> list[types.ModuleType]:
    prefixes = _DEEP_PREFIXES if deep else _GUARDED_PREFIXES
    return [
        module
        for name, module in list(sys.modules.items())
        if isinstance(module, types.ModuleType)
        and (name in _GUARDED_EXACT or any(name == p or name.startswith(p + ".") for p in prefixes))
    ]


def _owned(value: Any, module_name: str) -> bool:
    return getattr(value, "__module__", None) == module_name


class Inventory:
    """The guarded modules' namespaces, the package's classes and every Python function found in
    them (taken once per check: walking the modules is the slow part). ``deep``: every module of
    the package, NumPy, hypothesis and SciPy, and all their classes (the grader's choice)."""

    def __init__(self, deep: bool = False) -> None:
        self.namespaces: list[dict[str, Any]] = []
        self.classes: list[type] = []
        self.functions: list[types.FunctionType] = []
        seen: set[int] = set()
        for module in _guarded_modules(deep):
            namespace = vars(module)
            self.namespaces.append(namespace)
            own_package = deep or module.__name__.startswith("minisensli")
            for value in list(namespace.values()):
                if id(value) in seen:
                    continue
                if isinstance(value, types.FunctionType):
                    seen.add(id(value))
                    self.functions.append(value)
                elif own_package and isinstance(value, type) and _owned(value, module.__name__):
                    seen.add(id(value))
                    self.classes.append(value)
                    for member in vars(value).values():
                        target = getattr(member, "__func__", member)
                        if isinstance(target, types.FunctionType) and id(target) not in seen:
                            seen.add(id(target))
                            self.functions.append(target)

    def snapshot(self) -> Snapshot:
        return Snapshot(self)


class Snapshot:
    """The state of an inventory now; ``restore()`` puts back whatever changed since (and removes
    what was added) and says whether anything had."""

    def __init__(self, inventory: Inventory) -> None:
        self.modules = [(namespace, dict(namespace)) for namespace in inventory.namespaces]
        self.classes = [(cls, dict(vars(cls))) for cls in inventory.classes]
        self.functions = [(f, f.__code__, f.__defaults__, f.__kwdefaults__) for f in inventory.functions]

    def restore(self) -> bool:
        changed = False
        for namespace, saved in self.modules:
            if len(namespace) == len(saved) and all(namespace.get(k, _MISSING) is v for k, v in saved.items()):
                continue
            added = [k for k in namespace if k not in saved]
            # a submodule imported meanwhile (numpy.ma on a first np.median) stays: Python's import
            # system expects the attribute once the module is in sys.modules
            removed = [k for k in added if not isinstance(namespace[k], types.ModuleType)]
            for key in removed:
                del namespace[key]
            replaced = [k for k, v in saved.items() if namespace.get(k, _MISSING) is not v]
            namespace.update(saved)
            changed = changed or bool(removed or replaced)
        for cls, saved in self.classes:
            current = vars(cls)
            if len(current) == len(saved) and all(current.get(k, _MISSING) is v for k, v in saved.items()):
                continue
            changed = True
            for key in [k for k in current if k not in saved]:
                with contextlib.suppress(AttributeError, TypeError):
                    delattr(cls, key)
            for key, value in saved.items():
                if current.get(key, _MISSING) is not value:
                    with contextlib.suppress(AttributeError, TypeError):
                        setattr(cls, key, value)
        for function, code, defaults, kwdefaults in self.functions:
            if function.__code__ is not code:
                changed = True
                function.__code__ = code
            if function.__defaults__ is not defaults:
                changed = True
                function.__defaults__ = defaults
            if function.__kwdefaults__ is not kwdefaults:
                changed = True
                function.__kwdefaults__ = kwdefaults
        return changed


_MISSING = object()


@contextlib.contextmanager
def time_bound(seconds: float | None) -> Iterator[None]:
    """Raise CheckTimeoutError in the main thread once ``seconds`` have passed (then every 0.5 s
    until the block is left). No bound when ``seconds`` is None or off the main thread."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise CheckTimeoutError(f"no verdict within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
