"""dynloss: dynamical loss functions, reproducibly.

The science lives here, importable and testable without Snakemake:

- :mod:`dynloss.schedules` class weights Gamma(t) and raw weights G^(t) (thesis eqs. 3.2-3.5)
- :mod:`dynloss.losses`    the loss registry: ``ce``, ``mse``, ``dce``, ``dmse1``, ``dmse2``
- :mod:`dynloss.data`      the seeded C-arm spiral
- :mod:`dynloss.models`    the one-hidden-layer ReLU network (neural-tangents "standard")
- :mod:`dynloss.engine`    vmapped full-batch gradient descent in compiled ``lax.scan`` chunks
- :mod:`dynloss.netcdf`    labelled, provenance-stamped NetCDF (:mod:`dynloss.files`: atomic writes)
"""

__version__ = "0.2.0"
