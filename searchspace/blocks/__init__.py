"""Building blocks. Importing this package imports every module in it, and each module registers
its blocks in the registries of ``searchspace.registry``: a new block is a new file here (and, to
be searched, a family in ``searchspace.space.BLOCK_FAMILIES``); no list to extend."""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
