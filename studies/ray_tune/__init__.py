"""``--backend ray``: the search run through Ray Tune (imports Ray; ``studies.search.run`` imports
this package only for that backend).

- ``backend``: ``run_ray``, Ray start-up, resources per trial and the Tuner;
- ``searcher``: ``StudySearcher``, Ray's ``OptunaSearch`` on the shared study (screen, de-duplicate,
  tell) and the driver's heartbeat of open trials;
- ``trainable``: ``train_trial``, what a worker runs, and its report rows;
- ``schedulers``: early stopping (``"pareto"``, ``"asha"``) as Tune schedulers.
"""

from studies.ray_tune.backend import ray_session, run_ray
from studies.ray_tune.schedulers import SCHEDULERS, AshaStop, ParetoStop, make_scheduler
from studies.ray_tune.searcher import StudySearcher, beat, define_space
from studies.ray_tune.trainable import METRIC, PAYLOAD, train_trial

__all__ = [
    "METRIC",
    "PAYLOAD",
    "SCHEDULERS",
    "AshaStop",
    "ParetoStop",
    "StudySearcher",
    "beat",
    "define_space",
    "make_scheduler",
    "ray_session",
    "run_ray",
    "train_trial",
]
