"""``python -m datastrata`` runs the command line."""

from datastrata.cli import main

main()
