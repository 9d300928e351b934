"""``python -m deepdraw.models``: :func:`deepdraw.models.cli.main`."""

from deepdraw.models.cli import main

if __name__ == "__main__":
    main()
