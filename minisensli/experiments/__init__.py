"""The paper's experiments as TOML configs, a runner that compares methods over seeds (in this
process, local worker processes or a Dask cluster), result files and figures. Used by the
`minisensli` command (minisensli.cli)."""

from .config import Config, ConfigError, builtin_names, check_run_name, load_config, resolve, to_toml, validate
from .executors import ExecutorError, available_cores
from .plots import FIGURES, draw_all
from .results import SCHEMA_FILE, SCHEMA_ID, ResultsError, check_results, completeness_note, is_complete, load_results
from .runner import (
    RunFailedError,
    RunFolderError,
    RunInterruptedError,
    quick,
    resume_experiment,
    run_experiment,
)
from .summary import comparison_table, summarize, summary_table

__all__ = [
    "FIGURES",
    "SCHEMA_FILE",
    "SCHEMA_ID",
    "Config",
    "ConfigError",
    "ExecutorError",
    "ResultsError",
    "RunFailedError",
    "RunFolderError",
    "RunInterruptedError",
    "available_cores",
    "builtin_names",
    "check_results",
    "check_run_name",
    "comparison_table",
    "completeness_note",
    "draw_all",
    "is_complete",
    "load_config",
    "load_results",
    "quick",
    "resolve",
    "resume_experiment",
    "run_experiment",
    "summarize",
    "summary_table",
    "to_toml",
    "validate",
]
