"""Entry script of the frozen AnyGPT Desktop bundle: the same as the ``anygpt-desktop`` console script."""

import multiprocessing
import sys

from anygpt_desktop.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a no-op unless a library spawns worker processes from the frozen program
    sys.exit(main())
