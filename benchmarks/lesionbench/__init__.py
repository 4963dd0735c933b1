"""lesionbench: a tabular benchmark of the search space's mission factors (issue 21).

``space.py`` declares the sub-space (exhaustive over stem, block family, ECDF compression N,
attention order and skip bridge at a few fixed macro layouts); ``build.py`` trains its
candidates on the ISIC 2017 sample and appends one row per (candidate, fidelity, seed) to a CSV
committed beside it, resumably.
"""
