"""lesionbench: a tabular benchmark of the search space's mission factors (issue 21).

``space.py`` declares the sub-space (exhaustive over stem, block family, ECDF compression N,
attention order and skip bridge at two fixed macro layouts); ``build.py`` trains its candidates
on the ISIC 2017 sample and appends one row per (candidate, fidelity, seed) to ``table.csv``,
committed beside it, resumably. ``replay.py`` runs the search's samplers and pruners against the
table (``run_replays.sh``), ``by_evaluations.py`` reads a replay after k evaluations and
``fidelity.py`` ranks the two fidelities against each other; their results are in ``results/``
and docs/evidence.md section 4.
"""
