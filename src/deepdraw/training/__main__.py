"""``python -m deepdraw.training``: see :mod:`deepdraw.training`."""

from deepdraw.training.cli import main

main()
