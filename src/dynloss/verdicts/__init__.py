"""Verdicts on the thesis's claims: the claims, the statistics and the table (docs/verdicts.md)."""
from .claims import CLAIMS, LAW_CLAIMS, Claim, LawClaim, Protocol  # noqa: F401
from .format import read_fit_csv, summary, to_csv, to_html, to_markdown  # noqa: F401
from .stats import Settings  # noqa: F401
from .inputs import Inputs, confirm_key  # noqa: F401
from .table import COLUMNS, all_claims, confirm_jobs, table  # noqa: F401
