"""`python -m radiomix` runs the command line."""

from radiomix.cli import app

app(prog_name="radiomix")
