"""Building blocks. Importing this package fills the registries in ``searchspace.registry``."""

from . import (  # noqa: F401
    attention,
    basic,
    dsnet,
    egeunet,
    lmsa,
    malunet,
    scsonet,
    ulite,
    ulrts,
)
