"""Former home of the training engine, kept for :mod:`dynloss.myrtle`'s progress logger.

Training is :func:`dynloss.engine.train`; the specs are in :mod:`dynloss.spec`; progress
callbacks in :mod:`dynloss.progress`.
"""
from .progress import ProgressFn, format_eta, progress_logger  # noqa: F401
