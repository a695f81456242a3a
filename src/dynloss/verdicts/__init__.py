"""Verdicts on the thesis's claims: the claims, the statistics and the table (docs/verdicts.md)."""
from .claims import CLAIMS, LAW_CLAIMS, Claim, LawClaim, Protocol  # noqa: F401
from .format import read_fit_csv, summary, to_csv, to_html, to_markdown  # noqa: F401
from .stats import Settings  # noqa: F401
from .table import COLUMNS, Inputs, confirm_jobs, confirm_key, table  # noqa: F401
