"""`python -m radiomix` runs the command line."""

from radiomix.cli import run

run()
