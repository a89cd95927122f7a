"""Results files record the commands that wrote them in a form that pastes on another machine."""

import json
from pathlib import Path

import pytest

from koopkit.io import recorded_command

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "docs" / "guide" / "results").glob("*.json")) + sorted(
    (ROOT / "benchmarks" / "results").glob("*.json")
)


def _commands(value):
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "command" and isinstance(item, str):
                yield item
            else:
                yield from _commands(item)
    elif isinstance(value, list):
        for item in value:
            yield from _commands(item)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_recorded_commands_name_python_and_a_repository_path(path):
    for command in _commands(json.loads(path.read_text())):
        assert command.startswith("python "), command
        script = command.split()[1]
        assert not Path(script).is_absolute() and (ROOT / script).is_file(), command


def test_recorded_command_writes_python_and_a_path_relative_to_the_working_directory(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "benchmarks" / "bench x.py"
    assert (
        recorded_command([str(script), "--out", "a b"])
        == "python 'benchmarks/bench x.py' --out 'a b'"
    )
    assert recorded_command(["/elsewhere/run.py"]) == "python /elsewhere/run.py"
