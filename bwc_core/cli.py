"""The ``bwc`` command line.

Exit codes: 0 success, 1 verification failed, 2 usage error or unreadable
input. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .errors import BwcError

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"bwc: error: {message}\n")


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.out, stream=sys.stdout)


#: name -> (help, add-arguments, run). Later layers register their commands here.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "demo": (
        "run the main flow on built-in defaults",
        lambda p: p.add_argument("--out", required=True, help="output directory"),
        _cmd_demo,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered command."""
    parser = _Parser(prog="bwc", description="Provably intact body-worn-camera footage.")
    parser.add_argument("--version", action="version", version=f"bwc-core {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (help_, add_args, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        add_args(p)
        p.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bwc`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("bwc: interrupted", file=sys.stderr)
        return EXIT_USAGE
    except BwcError as exc:
        print(f"bwc: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"bwc: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
