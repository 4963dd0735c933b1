"""Where a study lives and what it holds: the trial attribute schema, the study spec, storage
and resume, trial-state predicates, and the one door to Optuna's private API."""
