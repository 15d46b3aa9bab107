"""Tiny experiment configs for the runner, CLI and figure tests: the spirals data with 40 points
per class and a 3-3 ReLU net, so that a whole comparison of methods runs in seconds."""

import json
import pathlib


def tiny_config(
    name: str,
    epochs: list[int],
    methods: list[str],
    seeds: list[int],
    description: str = "",
    max_insertions: int | None = None,
) -> str:
    """The TOML text of a tiny spirals comparison."""
    head = [f'name = "{name}"'] + ([f'description = "{description}"'] if description else [])
    training = [f"epochs = {json.dumps(epochs)}", "lr = 0.1"]
    if max_insertions is not None:
        training.append(f"max_insertions = {max_insertions}")
    return "\n".join(
        [
            *head,
            "",
            "[data]",
            'name = "spirals"',
            "n_per_class = 40",
            "batch_size = 20",
            "test_batch_size = 20",
            "",
            "[model]",
            'type = "fnn"',
            "hidden = [3, 3]",
            "",
            "[training]",
            *training,
            "",
            "[comparison]",
            f"methods = {json.dumps(methods)}",
            f"seeds = {json.dumps(seeds)}",
            "",
        ]
    )


def write_config(folder: pathlib.Path, text: str, name: str = "config.toml") -> str:
    """Write ``text`` as folder/name; returns the path as a string (what the command line takes)."""
    path = pathlib.Path(folder) / name
    path.write_text(text)
    return str(path)
