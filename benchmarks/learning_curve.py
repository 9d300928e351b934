"""Learning curve of the run's first architecture: ``deepdraw.training.learning_curve``.

    snakemake --cores 2 --configfile config/learning_curve.yaml results/learning_curve/dataset.zarr
    python benchmarks/learning_curve.py --configfile config/learning_curve.yaml --json

Writes ``benchmarks/results/learning_curve.csv``, ``learning_curve.json`` and ``learning_curve.png``.
"""

from deepdraw.training.learning_curve import main

if __name__ == "__main__":
    main()
