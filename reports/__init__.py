"""Reports of a stored study: Pareto plots, hypervolume, importance, factors, tables, model cards.

``build_report(study_name, storage)`` reads a study (never writes to it) and writes
``runs/<study>/report/``; see ``docs/reports.md``.
"""

from __future__ import annotations

from .build import build_report
from .study import ReportError, StudyView, load_study_view

__all__ = ["ReportError", "StudyView", "build_report", "load_study_view"]
