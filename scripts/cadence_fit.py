"""Fit lambda_th ~ eta^b per loss-trace definition with the *cadence* eigenvalue (no replay).

    python scripts/cadence_fit.py TRACES.nc [TRACES.nc ...]

For each traces file (``dynloss thresholds --traces-out``) the ``visible`` and ``growing`` onsets
are found on the full-resolution loss and lambda_th is read at the last Hessian measurement at or
before the onset (up to ``hess_every`` steps early: an estimate, not the exact replayed value that
``dynloss onsets`` stores). Prints per definition the fit and the median eta*lambda. A quick look
when the replays cannot be afforded; the published table says which lambda it uses.
"""
from __future__ import annotations

import sys

import numpy as np
import xarray as xr

from dynloss import bifurcation, onset


def main(paths) -> int:
    rows = {n: ([], []) for n in onset.TRACE_ONLY}
    for p in paths:
        tr = xr.open_dataset(p).load()
        eta = float(tr["lr"])
        steps, top = tr["step_hess"].values, tr["hess_eig"].values[:, :, 0]
        for name in onset.TRACE_ONLY:
            rule = getattr(onset, name)
            for r, L in enumerate(tr["L"].values):
                s = rule(L)
                rows[name][0].append(eta)
                rows[name][1].append(bifurcation.lambda_at_onset(steps, top[r], s) if s >= 0 else np.nan)
    for name, (eta, lam) in rows.items():
        eta, lam = np.asarray(eta), np.asarray(lam)
        f = bifurcation.fit_power_law(eta, lam)
        el = eta * lam
        print(f"{name} (cadence lambda): slope {f.slope:.3f} [{f.slope_ci[0]:.3f}, {f.slope_ci[1]:.3f}], "
              f"prefactor {f.prefactor:.3f} [{f.prefactor_ci[0]:.3f}, {f.prefactor_ci[1]:.3f}], R^2 {f.r2:.2f}, "
              f"n with onset {int(np.isfinite(lam).sum())} / without {int((~np.isfinite(lam)).sum())}, "
              f"median eta*lambda {np.nanmedian(el):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
