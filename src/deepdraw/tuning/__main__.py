"""``python -m deepdraw.tuning``: see :mod:`deepdraw.tuning.cli`."""

from deepdraw.tuning.cli import main

main()
