"""The ``modelark`` command a wheel installs: the Rust CLI itself, run in this process."""

from __future__ import annotations

import signal
import sys

from . import _native


def main() -> None:
    # The CLI handles SIGINT and SIGTERM itself (cleanup, exit code 130).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    sys.exit(_native.cli_main(sys.argv))


if __name__ == "__main__":
    main()
