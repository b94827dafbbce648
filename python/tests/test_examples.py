"""The documented quick start runs as written."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import quickstart  # noqa: E402
from conftest import Registry  # noqa: E402


def test_quickstart_runs(registry: Registry, model: Path, tmp_path: Path) -> None:
    path = quickstart.main(registry.host, str(model), str(tmp_path))
    assert Path(path, "weights.npz").read_bytes() == (model / "weights.npz").read_bytes()
    # Read-only by its mode bits (root could write anyway, so access() would prove nothing).
    assert not Path(path).stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
