"""Running a search: the command (run), one trial (trial), parallel workers, pruning, the
Pareto front and its hypervolume."""
