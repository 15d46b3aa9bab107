"""The paper's experiments as TOML configs, a runner that compares methods over seeds,
result files and figures. Used by the `minisensli` command (minisensli.cli)."""

from .config import Config, ConfigError, builtin_names, load_config, resolve, to_toml, validate
from .plots import FIGURES, draw_all
from .results import SCHEMA_FILE, SCHEMA_ID, ResultsError, check_results, load_results
from .runner import quick, run_experiment
from .summary import comparison_table, summarize, summary_table

__all__ = [
    "FIGURES", "SCHEMA_FILE", "SCHEMA_ID", "Config", "ConfigError", "ResultsError", "builtin_names", "check_results",
    "comparison_table", "draw_all", "load_config", "load_results", "quick", "resolve", "run_experiment", "summarize",
    "summary_table", "to_toml", "validate",
]
