"""CF-1.10 attributes of the package's variables and coordinates (:func:`describe`), and the
longer descriptions of the spiral engine's variables (:data:`VARIABLE_DOCS`)."""
from __future__ import annotations

import xarray as xr

CONVENTIONS = "CF-1.10"

VARIABLE_DOCS = {
    "L": "static loss L after the update of the step",
    "F": "dynamical loss F after the update of the step (class weights of that step)",
    "dL": "L(t) - L(t-1)",
    "train_acc": "training accuracy after the update of the step",
    "gamma": "class weights used at the step (Gamma, or raw G^ for dmse2)",
    "L_init": "static loss L at initialisation",
    "final_train_acc": "training accuracy after the last step (NaN if diverged)",
    "test_acc": "mean accuracy over the test spirals (NaN if diverged)",
    "test_acc_each": "accuracy on each test spiral",
    "diverged": "the loss became NaN/inf",
    "diverged_step": "first step with a non-finite loss (-1: never)",
    "hess_eig": "largest Hessian eigenvalues of F (Lanczos), descending",
    "ntk_lmax": "largest eigenvalue of the empirical NTK (traced over outputs)",
    "ritz_values": "Lanczos Ritz values of the Hessian of F",
    "ritz_weights": "weights of the Ritz values in the spectral density",
    "density": "Gaussian-broadened Hessian eigenvalue density",
}


#: CF-style attributes of every variable and coordinate the package writes: a concise
#: ``long_name``, ``units`` where the quantity has one (``1``: dimensionless; losses and
#: eigenvalues have none), and the longer ``description``
CF_ATTRS: dict[str, tuple[str, str | None]] = {
    "L": ("static loss", None), "F": ("dynamical loss", None), "dL": ("static loss increment", None),
    "train_acc": ("train accuracy", "1"), "test_acc": ("test accuracy", "1"),
    "test_acc_each": ("test accuracy per test spiral", "1"), "final_train_acc": ("final train accuracy", "1"),
    "final_test_acc": ("final test accuracy", "1"), "gamma": ("class weight", "1"),
    "L_init": ("initial static loss", None), "diverged": ("diverged", None),
    "diverged_step": ("divergence step", "steps"), "diverged_epoch": ("divergence epoch", "epochs"),
    "hess_eig": ("Hessian eigenvalue", None), "ntk_lmax": ("largest NTK eigenvalue", None),
    "ritz_values": ("Ritz value", None), "ritz_weights": ("Ritz weight", "1"),
    "density": ("Hessian eigenvalue density", None), "onset_step": ("first bifurcation step", "steps"),
    "lambda_th": ("curvature threshold", None), "lambda_th_cadence": ("curvature threshold on the cadence", None),
    "train_loss": ("static loss", None), "train_F": ("dynamical loss", None),
    # coordinates
    "step": ("gradient-descent step", "steps"), "step_hess": ("step of the Hessian spectrum", "steps"),
    "step_ntk": ("step of the NTK eigenvalue", "steps"), "step_density": ("step of the density", "steps"),
    "epoch": ("epoch", "epochs"), "seed": ("initialisation seed", None), "run": ("run index", None),
    "class_index": ("class index", None), "test_set": ("noise seed of the test spiral", None),
    "eig": ("eigenvalue rank", None), "grid": ("eigenvalue", None), "grid_index": ("grid point", None),
    "vector": ("Lanczos start vector", None),
    "lanczos": ("Lanczos index", None), "loss": ("loss function", None), "width": ("hidden-layer width", "1"),
    "channels": ("convolution channels", "1"), "lr": ("learning rate", None),
    "A": ("class-weight amplitude", "1"), "T": ("class-weight period", "steps"),
}
CF_DESCRIPTIONS = {
    "step": "gradient-descent step t (metrics after the update of step t)",
    "A": "amplitude A >= 1 of the class-weight oscillation (1: static loss)",
    "T": "period T of the class-weight oscillation, in steps",
    "lr": "learning rate eta", "width": "hidden units of the one-hidden-layer network",
}


def describe(ds: xr.Dataset) -> xr.Dataset:
    """Give ``ds`` CF-style attributes in place: ``long_name`` (concise), ``units`` and
    ``description`` (a previous sentence-long ``long_name`` moves there); ``Conventions``.

    Args:
        ds: a dataset of this package.

    Returns:
        ``ds``.
    """
    for name, var in ds.variables.items():
        old = var.attrs.get("long_name")
        entry = CF_ATTRS.get(str(name))
        if entry is None:
            continue
        long_name, units = entry
        desc = (var.attrs.get("description") or (old if old and old != long_name else None)
                or CF_DESCRIPTIONS.get(str(name)))
        var.attrs["long_name"] = long_name
        if units is not None:
            var.attrs["units"] = units
        if desc:
            var.attrs["description"] = desc
    ds.attrs["Conventions"] = CONVENTIONS
    return ds
