"""The atomic writer (minisensli/files.py) and everything written through it: a write that fails
half-way leaves the previous file exactly as it was and no temporary file behind."""

import os

import numpy as np
import pytest

import minisensli as ms
from minisensli import nn
from minisensli.experiments import plots
from minisensli.files import atomic_write, write_text
from minisensli.formats import npz


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


def test_atomic_write_replaces_the_file_with_usual_permissions(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    write_text(target, "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert leftovers(tmp_path) == []
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_write_failing_midway_keeps_the_previous_file_and_no_temporary(tmp_path, error):
    target = tmp_path / "results.json"
    target.write_text('{"complete": true}')
    with pytest.raises(type(error)):
        with atomic_write(target, "w") as f:
            f.write('{"comp')
            raise error
    assert target.read_text() == '{"complete": true}'
    assert leftovers(tmp_path) == []


def test_failing_fsync_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "config.toml"
    target.write_text('name = "old"\n')

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        write_text(target, 'name = "new"\n')
    assert target.read_text() == 'name = "old"\n'
    assert leftovers(tmp_path) == []


def test_write_into_a_missing_folder_raises_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_text(tmp_path / "missing" / "a.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_refuses_append_and_read_modes(tmp_path):
    with pytest.raises(ValueError, match="mode must be 'w' or 'wb'"):
        with atomic_write(tmp_path / "a", "a"):
            pass


def test_save_failing_midway_keeps_the_previous_model(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    first = nn.Sequential(nn.Dense(3, 4), nn.ReLU(), nn.Dense(4, 2))
    ms.save(first, path)
    before = path.read_bytes()
    real_save_arrays = npz.save_arrays

    def half_then_fail(file, arrays):
        real_save_arrays(file, arrays)
        file.truncate(file.tell() // 2)  # a truncated archive is on its way to disk ...
        raise OSError(28, "No space left on device")  # ... when the disk fills up

    monkeypatch.setattr(npz, "save_arrays", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        ms.save(nn.Sequential(nn.Dense(3, 2)), path)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    loaded = ms.load(path)
    for (name, p), (_, q) in zip(first.named_parameters(), loaded.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def test_figure_failing_midway_keeps_the_previous_png(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    target = tmp_path / "test_error.png"
    target.write_bytes(b"\x89PNG previous figure")

    def broken_savefig(self, file, **options):
        file.write(b"\x89PNG half")
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    fig, _ = plots._subplots(figsize=(2, 2))
    with pytest.raises(RuntimeError, match="renderer crashed"):
        plots._finish(fig, target)
    assert target.read_bytes() == b"\x89PNG previous figure"
    assert leftovers(tmp_path) == []
