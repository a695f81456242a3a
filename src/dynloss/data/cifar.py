"""CIFAR-10 from its "python version" folder (figure 3.2; Krizhevsky 2009).

The folder ``cifar-10-batches-py`` holds five training batches ``data_batch_1`` ..
``data_batch_5`` and one ``test_batch``: pickled dicts whose key ``b"data"`` is an (N, 3072) uint8
array, each row one 32x32 RGB image stored channel-major (1024 red, 1024 green, 1024 blue values,
each plane row-major), and whose key ``b"labels"`` is a list of N ints in 0..9. They load with
``pickle.load(f, encoding="bytes")``.

:func:`load_cifar10` returns float32 NHWC images standardised per channel with the *training*
set's mean and standard deviation (the same shift and scale applied to the test set) and int32
labels. Nothing is ever downloaded: a missing or malformed folder is a :class:`CifarError` that
names the path and the files expected there.

:func:`write_synthetic_cifar` writes a small folder in exactly that format (any square image
size) with class-dependent colours and gratings plus noise, so that tests and the workflow's quick
scale can train a small network on something learnable without the real data set.

Pickle runs code while loading: point the loader only at a folder you trust (the official archive
or one written by :func:`write_synthetic_cifar`).
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
NUM_CLASSES = 10
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
_EXPECTED = ", ".join(TRAIN_FILES + (TEST_FILE,))


class CifarError(ValueError):
    """The CIFAR-10 folder is missing, incomplete or malformed (the message names the path)."""


def _expected_files_hint(folder: Path) -> str:
    return (f"expected the CIFAR-10 python version folder (cifar-10-batches-py) at {str(folder)!r} "
            f"with files {_EXPECTED}")


#: the only globals a CIFAR-10 batch pickle needs: numpy's array reconstruction (numpy 1 and 2
#: module paths) and the bytes encoding Python 3 writers use at protocol 2
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, bytes, str, numbers and numpy arrays: any other
    global (``os.system``, ``builtins.eval``, ...) is refused before it can run."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name} (a CIFAR-10 batch holds only "
                                     "dicts, lists, bytes, str, ints and numpy arrays)")


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> ``(data (N, 3 S S) uint8, labels (N,) int32)``, checked for shape.

    Raises :class:`CifarError` naming the file when it is missing, not a pickled dict, lacks the
    keys ``b"data"`` / ``b"labels"``, or has inconsistent shapes or labels out of 0..9.
    """
    path = Path(path)
    if not path.is_file():
        raise CifarError(f"missing file {str(path)!r}; {_expected_files_hint(path.parent)}")
    try:
        with open(path, "rb") as fh:
            batch = _SafeUnpickler(fh, encoding="bytes").load()
    except Exception as exc:  # any unpickling failure (a refused global included): malformed
        raise CifarError(f"malformed file {str(path)!r}: not a pickled CIFAR-10 batch "
                         f"({type(exc).__name__}: {exc})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise CifarError(f"malformed file {str(path)!r}: expected a dict with keys b'data' and "
                         f"b'labels' (got {keys!r})")
    data = np.asarray(batch[b"data"])
    try:
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (TypeError, ValueError):
        raise CifarError(f"malformed file {str(path)!r}: b'labels' is not a list of ints") from None
    side = int(round(np.sqrt(data.shape[1] / 3))) if data.ndim == 2 else 0
    if data.ndim != 2 or data.dtype != np.uint8 or side < 1 or 3 * side * side != data.shape[1]:
        raise CifarError(f"malformed file {str(path)!r}: b'data' must be an (N, 3*S*S) uint8 array "
                         f"(N, 3072 for 32x32 images), got shape {data.shape} dtype {data.dtype}")
    if labels.shape != (data.shape[0],):
        raise CifarError(f"malformed file {str(path)!r}: {labels.shape[0] if labels.ndim else 0} "
                         f"labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise CifarError(f"malformed file {str(path)!r}: labels must be in 0..{NUM_CLASSES - 1}")
    return data, labels.astype(np.int32)


def to_nhwc(data: np.ndarray) -> np.ndarray:
    """Rows of channel-major planes (N, 3 S S) -> images (N, S, S, 3), same dtype."""
    side = int(round(np.sqrt(data.shape[1] / 3)))
    return data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)


def standardise(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(x - mean) / std`` with the training set's statistics, as float32.

    The statistics are accumulated in float64 so that 50000 images do not lose precision.
    """
    mean = x_train.mean(axis=(0, 1, 2), dtype=np.float64)
    std = x_train.std(axis=(0, 1, 2), dtype=np.float64)
    std = np.where(std > 0, std, 1.0)  # a constant channel stays finite (synthetic data)

    def apply(x):
        return ((x.astype(np.float64) - mean) / std).astype(np.float32)

    return apply(x_train), apply(x_test)


def load_cifar10(path: str | os.PathLike, num_train: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` from the CIFAR-10 python folder at ``path``.

    Images are float32 NHWC (N, 32, 32, 3) standardised per channel with the statistics of the
    training images that are used; labels are int32. ``num_train`` keeps the first that many
    training images in file order (``None``: all 50000). Raises :class:`CifarError` naming the
    path and the expected files when the folder or a file is missing or malformed.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise CifarError(f"no folder {str(folder)!r}; {_expected_files_hint(folder)} "
                         "(download it yourself; dynloss never downloads data)")
    missing = [f for f in TRAIN_FILES + (TEST_FILE,) if not (folder / f).is_file()]
    if missing:
        raise CifarError(f"missing file(s) {', '.join(missing)} in {str(folder)!r}; "
                         f"{_expected_files_hint(folder)}")
    parts = [read_batch(folder / f) for f in TRAIN_FILES]
    test_data, y_test = read_batch(folder / TEST_FILE)
    widths = {d.shape[1] for d, _ in parts} | {test_data.shape[1]}
    if len(widths) != 1:
        raise CifarError(f"malformed folder {str(folder)!r}: batches have different image sizes "
                         f"(row lengths {sorted(widths)})")
    train_data = np.concatenate([d for d, _ in parts])
    y_train = np.concatenate([y for _, y in parts])
    if num_train is not None:
        if not isinstance(num_train, (int, np.integer)) or not 1 <= num_train <= len(y_train):
            raise ValueError(f"num_train must be an integer in 1..{len(y_train)} "
                             f"(got {num_train!r})")
        train_data, y_train = train_data[:num_train], y_train[:num_train]
    x_train, x_test = standardise(to_nhwc(train_data), to_nhwc(test_data))
    return x_train, y_train, x_test, y_test


def write_synthetic_cifar(path: str | os.PathLike, num_train_per_batch: int = 100,
                          num_test: int = 100, image_size: int = 32, seed: int = 0,
                          noise: float = 40.0) -> Path:
    """Write a synthetic CIFAR-10 python folder at ``path`` (same files, keys and layout).

    Each class has its own mean colour and an oriented sinusoidal grating; every image is its
    class's pattern with a random phase, plus Gaussian pixel noise of std ``noise`` (0..255
    scale), clipped to uint8. Labels cycle through the 10 classes in a seeded random order, so
    every batch is nearly balanced. Deterministic in ``seed``. Returns the folder.
    """
    for name, v in (("num_train_per_batch", num_train_per_batch), ("num_test", num_test),
                    ("image_size", image_size)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer (got {v!r})")
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    colours = rng.uniform(-50.0, 50.0, size=(NUM_CLASSES, 3))
    angles = np.pi * np.arange(NUM_CLASSES) / NUM_CLASSES
    freqs = 2.0 * np.pi * (1.0 + np.arange(NUM_CLASSES) % 3) / max(image_size, 2)
    yy, xx = np.meshgrid(np.arange(image_size), np.arange(image_size), indexing="ij")

    def images(labels: np.ndarray) -> np.ndarray:
        n = len(labels)
        phase = rng.uniform(0, 2 * np.pi, size=n)
        proj = (np.cos(angles[labels])[:, None, None] * xx + np.sin(angles[labels])[:, None, None] * yy)
        grating = 40.0 * np.sin(freqs[labels][:, None, None] * proj + phase[:, None, None])
        img = 128.0 + colours[labels][:, :, None, None] + grating[:, None] \
            + noise * rng.standard_normal((n, 3, image_size, image_size))
        # channel-major planes, as the real files store them
        return np.clip(np.rint(img), 0, 255).astype(np.uint8).reshape(n, -1)

    def labels_for(n: int) -> np.ndarray:
        return rng.permutation(np.arange(n) % NUM_CLASSES)

    files = [(f, num_train_per_batch) for f in TRAIN_FILES] + [(TEST_FILE, num_test)]
    for i, (name, n) in enumerate(files):
        labels = labels_for(n)
        batch = {
            b"batch_label": f"synthetic {name} {i + 1} of {len(files)}".encode(),
            b"labels": [int(v) for v in labels],
            b"data": images(labels),
            b"filenames": [f"synthetic_{i}_{j}.png".encode() for j in range(n)],
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
    meta = {b"label_names": [s.encode() for s in LABEL_NAMES],
            b"num_cases_per_batch": num_train_per_batch, b"num_vis": 3 * image_size * image_size}
    with open(folder / META_FILE, "wb") as fh:
        pickle.dump(meta, fh, protocol=2)
    return folder
