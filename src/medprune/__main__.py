"""`python -m medprune` (and `torchrun -m medprune`): the command line."""

from medprune.cli import main

main()
