"""One figure-3.2 job as plain data: :class:`MyrtleSpec`, defined in :mod:`dynloss.spec` (JAX-free, so
the planning layer can hold one) and re-exported here with :func:`resolve_batch`."""
from ..spec import NUM_CLASSES, MyrtleSpec, resolve_batch  # noqa: F401
