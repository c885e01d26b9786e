"""``python -m gan_helpers``: the command line (``gan_helpers.cli``), with Ctrl-C at start-up
(while torch is still being imported) ending in one line instead of a traceback."""

import sys


def main() -> int:
    try:
        from gan_helpers.cli import main as run

        return run()
    except KeyboardInterrupt:
        print("error: interrupted (Ctrl-C)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
