"""``python -m gan_helpers``: the command line (``gan_helpers.cli``), with Ctrl-C at start-up
(while torch is still being imported) ending in one line instead of a traceback or a crash."""

import signal
import sys


def import_cli():
    """Import the command line with Ctrl-C held back: one that lands inside torch's C++ start-up
    code aborts the process, so it is delivered, as a KeyboardInterrupt, once the imports are done.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows has no signal masks
        from gan_helpers.cli import main as run

        return run
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        from gan_helpers.cli import main as run
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    return run


def main() -> int:
    try:
        return import_cli()()
    except KeyboardInterrupt:
        print("error: interrupted (Ctrl-C)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
