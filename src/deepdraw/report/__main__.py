"""``python -m deepdraw.report``: the command line of :func:`deepdraw.report.main`."""

from deepdraw.report import main

main()
