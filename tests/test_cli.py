"""The `radiomix` command: version and help on every verb."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from radiomix import __version__
from radiomix.cli import app

VERBS = sorted(command.name for command in app.registered_commands)


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"radiomix {__version__}"


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb):
    result = CliRunner().invoke(app, [verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and verb in result.output


def test_help_shows_the_defaults_of_options_without_a_value():
    """Rich markup would swallow a `[default: …]` written into the help text itself."""
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert "[default: (runs/<experiment name>)]" in result.output
    assert "else sqlite:///~/.radiomix/mlflow.db)]" in result.output
    result = CliRunner().invoke(app, ["extract", "--help"], env={"COLUMNS": "200"})
    assert "[default: (radiomix/configs/extraction.yaml)]" in result.output


def test_installed_entry_point_runs():
    script = subprocess.run(
        [sys.executable, "-m", "radiomix", "--version"], capture_output=True, text=True, check=False
    )
    assert script.returncode == 0, script.stderr
    assert script.stdout.strip() == f"radiomix {__version__}"


def test_python_api_mirrors_the_verbs():
    import radiomix

    missing = [
        name
        for name in radiomix.__all__
        if not callable(getattr(radiomix, name, None)) and name != "__version__"
    ]
    assert missing == []
    assert radiomix.extract_features.__module__ == "radiomix.features.engine"


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    script = subprocess.run(
        [sys.executable, "-m", "radiomix", "baseline", str(tmp_path / "absent.parquet")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert script.returncode == 2
    assert script.stderr.startswith("error:") and "absent.parquet" in script.stderr
    assert "Traceback" not in script.stderr + script.stdout


def test_the_library_logs_warnings_the_command_line_shows(tmp_path):
    """A warning logged by a library module reaches the user as one `warning:` line; its
    information messages stay quiet."""
    code = (
        "import logging; from radiomix.console import show_library_warnings; "
        "show_library_warnings(); show_library_warnings(); "
        "log = logging.getLogger('radiomix.evaluation.experiment'); "
        "log.info('quiet'); log.warning('dropped: %s', 'case c1')"
    )
    script = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert script.returncode == 0 and script.stdout == ""
    assert script.stderr == "warning: dropped: case c1\n"
