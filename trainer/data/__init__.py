"""The data layer: find, validate, decode, cache and split skin-lesion datasets.

``load_data(source, ...)`` turns a folder in any known layout (ISIC 2016 / 2017 / 2018, PH2, or a
generic ``images/`` + ``masks/`` folder) or the word ``"synthetic"`` into a
:class:`~trainer.datatypes.DataBundle` of uint8 tensors. Bad input raises :class:`DataError`.
"""

from __future__ import annotations

from trainer.data.cache import ENV_VAR as CACHE_ENV_VAR
from trainer.data.cache import resolve_cache_dir
from trainer.data.decode import MASK_RULE, read_image, read_mask
from trainer.data.errors import DataError
from trainer.data.layouts import Discovery, Sample, discover
from trainer.data.loader import describe_data, load_data, load_pairs_for_evaluation
from trainer.data.splits import make_split, split_hash

__all__ = [
    "CACHE_ENV_VAR",
    "MASK_RULE",
    "DataError",
    "Discovery",
    "Sample",
    "describe_data",
    "discover",
    "load_data",
    "load_pairs_for_evaluation",
    "make_split",
    "read_image",
    "read_mask",
    "resolve_cache_dir",
    "split_hash",
]
