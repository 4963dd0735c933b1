"""The search space: genotypes, block registries, ``build_model``, named presets, costs."""

from __future__ import annotations

from .genotype import GENOTYPE_VERSION, Genotype, GenotypeError, Slot
from .network import Bridge, Network, build_model
from .registry import ATTENTIONS, BLOCKS, BRIDGES, STEMS, BlockOptions

__all__ = [
    "ATTENTIONS",
    "BLOCKS",
    "BRIDGES",
    "STEMS",
    "GENOTYPE_VERSION",
    "BlockOptions",
    "Bridge",
    "Genotype",
    "GenotypeError",
    "Network",
    "Slot",
    "build_model",
]
