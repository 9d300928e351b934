"""deepdraw: task-driven models of proprioception as a reproducible workflow."""

__version__ = "0.1.0"
