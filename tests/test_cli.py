"""The installed console script."""

from __future__ import annotations

import subprocess


def test_help_lists_the_commands():
    proc = subprocess.run(["trustsim", "--help"], capture_output=True, text=True, check=True)
    for command in ("validate-dataset", "dataset-stats", "add-instances", "push-dataset"):
        assert command in proc.stdout


def test_unknown_command_fails_with_usage():
    proc = subprocess.run(["trustsim", "frobnicate"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "invalid choice: 'frobnicate'" in proc.stderr
