"""Networks in run folders: train, reuse, evaluate, export and time them (no Optuna: the layer
below studies, above searchspace and trainer)."""
