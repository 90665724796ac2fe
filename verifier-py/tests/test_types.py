"""The type stubs (.pyi) describe the API: mypy --strict accepts a program
that uses it as an app would and refuses calls it must refuse."""

import pathlib
import subprocess
import sys

TYPED = pathlib.Path(__file__).parent / "typed"


def mypy(path: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir=/dev/null", str(path)],
        capture_output=True,
        text=True,
    )


def test_the_stubs_type_check_a_program_that_uses_the_package():
    result = mypy(TYPED / "usage.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_stubs_refuse_wrong_calls():
    result = mypy(TYPED / "misuse.py")
    assert result.returncode == 1, result.stdout + result.stderr
    for line in (5, 6, 7):
        assert f"misuse.py:{line}: error" in result.stdout, result.stdout
