"""Where a run writes: run names that cannot leave --out, distinct folders for runs started in
the same second, --out problems as exit 2 with a message, and config.toml that reads back."""

import sys
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisensli import cli
from minisensli.experiments import ConfigError, check_run_name, resolve, to_toml, validate
from minisensli.experiments.runner import RunFolderError, create_run_folder

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

BAD_NAMES = [
    ("../escape", "cannot name a results folder"),
    ("a/../../b", "cannot name a results folder"),
    ("/tmp/absolute", "cannot name a results folder"),
    ("..", "cannot name a results folder"),
    (".hidden", "cannot name a results folder"),
    ("nul\x00byte", "cannot name a results folder"),
    ("tab\tname", "cannot name a results folder"),
    ("back\\slash", "cannot name a results folder"),
    ("trailing.", "cannot name a results folder"),
    ("x" * 300, "300 characters"),
    ("", "cannot name a results folder"),
]


@pytest.mark.parametrize("name,message", BAD_NAMES)
def test_config_name_that_would_leave_out_is_refused_before_any_work(tmp_path, capsys, name, message):
    config = tmp_path / "c.toml"
    config.write_text(f"name = {to_toml_string(name)}\n")
    out = tmp_path / "out"
    assert cli.main(["run", str(config), "--out", str(out), "--no-progress", "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert "name:" in err and message in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml"]


def to_toml_string(text):
    return '"' + "".join(f"\\u{ord(c):04X}" if ord(c) < 0x20 or c in '"\\' else c for c in text) + '"'


@pytest.mark.parametrize("name", ["spirals", "digits-cnn", "my run 2", "Exp_7.v2", "Ünïcode+1", "x" * 100])
def test_ordinary_names_are_accepted(name):
    assert check_run_name(name) == name


@pytest.mark.parametrize("name,_", BAD_NAMES)
def test_create_run_folder_checks_the_name_itself(tmp_path, name, _):
    with pytest.raises(ConfigError, match="name:"):
        create_run_folder(tmp_path, name, "20250101-000000")
    assert list(tmp_path.iterdir()) == []


def test_runs_started_in_the_same_second_get_distinct_folders(tmp_path):
    stamp = "20250101-120000"
    folders = []

    def make():
        folders.append(create_run_folder(tmp_path, "same", stamp))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = sorted(f.name for f in folders)
    assert len(set(names)) == 8
    assert names[0] == f"same-{stamp}" and f"same-{stamp}-2" in names
    assert all((f / "models").is_dir() for f in folders)


def test_out_that_is_a_file_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert cli.main(["run", "spirals", "--quick", "--out", str(blocker), "--no-progress", "--jobs", "1"]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert blocker.read_text() == "not a folder"


def test_out_below_a_file_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    target = blocker / "results"
    assert cli.main(["run", "spirals", "--quick", "--out", str(target), "--no-progress", "--jobs", "1"]) == 2
    assert "part of that path is a file" in capsys.readouterr().err


def test_out_that_cannot_be_written_exits_2(tmp_path, capsys, monkeypatch):
    import pathlib

    real_mkdir = pathlib.Path.mkdir

    def refuse_below(self, *args, **kwargs):
        if self.parent == tmp_path / "locked":
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    (tmp_path / "locked").mkdir()
    monkeypatch.setattr(pathlib.Path, "mkdir", refuse_below)  # root ignores chmod, so simulate it
    out = tmp_path / "locked"
    assert cli.main(["run", "spirals", "--quick", "--out", str(out), "--no-progress", "--jobs", "1"]) == 2
    assert "cannot create a results folder in it (Permission denied)" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_run_folder_error_is_a_value_error():
    assert issubclass(RunFolderError, ValueError)


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=40))
def test_to_toml_round_trips_any_string(text):
    config = resolve("spirals")
    config.description = text
    config.differs_from_paper = text + "\"\"\"\n'''"
    again = validate(tomllib.loads(to_toml(config)))
    assert again.as_dict() == config.as_dict()


def test_to_toml_round_trips_every_builtin_config():
    from minisensli.experiments import builtin_names

    for name in builtin_names():
        config = resolve(name)
        assert validate(tomllib.loads(to_toml(config))).as_dict() == config.as_dict()


def test_a_symlink_at_the_folder_name_is_a_collision_not_a_way_out(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "run-20250101-000000").symlink_to(elsewhere)
    folder = create_run_folder(out, "run", "20250101-000000")
    assert folder == out / "run-20250101-000000-2" and folder.is_dir() and not folder.is_symlink()
    assert list(elsewhere.iterdir()) == []
