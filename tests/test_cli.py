"""The ``bwc`` command line: version, help, usage errors, and the demo."""

from __future__ import annotations

import io
import subprocess
import sys

import av
import pytest

import bwc_core
from bwc_core.cli import main


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert bwc_core.__version__ in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_usage_errors_exit_2_with_one_line():
    proc = subprocess.run([sys.executable, "-m", "bwc_core.cli", "no-such-command"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("bwc: error:")
    assert "Traceback" not in proc.stderr
    assert main([]) == 2


def test_demo_writes_a_playable_pre_event_file(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "buffer held" in out and "dropped" in out
    with av.open(str(tmp_path / "pre-event.mp4")) as container:
        assert len(container.streams.audio) == 0  # buffer audio is off by default
        frames = list(container.decode(video=0))
    assert frames and frames[0].key_frame
    # The buffer keeps >= 8 s and at most 8 s + one GOP (1 s) at 30 fps.
    assert 8 * 30 <= len(frames) <= 9 * 30 + 1
