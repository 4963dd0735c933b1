"""Tables as text, shared by the verbs of ``studies`` and the reports (which import it)."""

from __future__ import annotations

import pandas as pd


def to_markdown(df: pd.DataFrame, **tabulate_options) -> str:
    """A GitHub-flavoured Markdown table of ``df`` (pandas' writer, through tabulate), no index;
    ``tabulate_options`` go to tabulate (``floatfmt=".4f"``, ``missingval="-"``)."""
    return df.to_markdown(index=False, tablefmt="github", **tabulate_options) + "\n"
