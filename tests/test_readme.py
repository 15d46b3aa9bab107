"""The README's code runs as written (with fewer epochs, in a scratch folder)."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README has no python examples"
    code = "\n".join(blocks).replace("epochs=150", "epochs=3").replace("epochs=[450, 1400]", "epochs=[20, 5]")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert (tmp_path / "spirals.npz").is_file() and (tmp_path / "growth.png").is_file()
    assert namespace["result"].chosen_sites[0] is not None


def test_readme_test_command_is_marked_for_ci():
    text = README.read_text(encoding="utf-8")
    marked = re.search(r"<!-- test-command:start -->\n```\n(.*?)\n```\n<!-- test-command:end -->", text, re.S)
    assert marked and "pytest" in marked.group(1)
