"""lesion-nas's command line: one module per verb (its parser and what it runs), the options
several verbs share (``cli.options``), the errors (``cli.errors``) and ``cli.main``, which builds
the parser from the verb modules and runs one. ``search.py`` and the ``lesion-nas`` entry point
call ``cli.main.main``. Every verb calls one function of a package and prints what that package
formats: no result formatting lives here."""

from cli.main import main

__all__ = ["main"]
