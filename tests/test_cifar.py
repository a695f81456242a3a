"""CIFAR-10 python-folder loader and the synthetic writer (dynloss.data.cifar)."""
import pickle

import numpy as np
import pytest

from dynloss.data import cifar


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return cifar.write_synthetic_cifar(tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py",
                                       num_train_per_batch=20, num_test=30, image_size=8, seed=3)


def _raw(path):
    with open(path, "rb") as fh:
        return pickle.load(fh, encoding="bytes")


def test_synthetic_folder_has_the_real_layout(folder):
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(cifar.TRAIN_FILES + (cifar.TEST_FILE, cifar.META_FILE))
    batch = _raw(folder / "data_batch_1")
    assert set(batch) >= {b"data", b"labels", b"batch_label", b"filenames"}
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (20, 3 * 8 * 8)
    assert isinstance(batch[b"labels"], list) and all(isinstance(v, int) for v in batch[b"labels"])
    assert len(_raw(folder / "test_batch")[b"labels"]) == 30


def test_default_image_size_is_cifar(tmp_path):
    d = cifar.write_synthetic_cifar(tmp_path, num_train_per_batch=2, num_test=3)
    assert _raw(d / "data_batch_5")[b"data"].shape == (2, 3072)
    x_train, y_train, x_test, y_test = cifar.load_cifar10(d)
    assert x_train.shape == (10, 32, 32, 3) and x_test.shape == (3, 32, 32, 3)


def test_round_trip(folder):
    x_train, y_train, x_test, y_test = cifar.load_cifar10(folder)
    assert x_train.shape == (100, 8, 8, 3) and x_test.shape == (30, 8, 8, 3)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    raw = [_raw(folder / f) for f in cifar.TRAIN_FILES]
    labels = np.concatenate([b[b"labels"] for b in raw])
    np.testing.assert_array_equal(y_train, labels)
    np.testing.assert_array_equal(y_test, _raw(folder / "test_batch")[b"labels"])
    # channel-major rows: value of channel c at (h, w) of image i is row[c*S*S + h*S + w]
    data = np.concatenate([b[b"data"] for b in raw]).astype(np.float64)
    img = np.empty((100, 8, 8, 3))
    for c in range(3):
        for h in range(8):
            for w in range(8):
                img[:, h, w, c] = data[:, c * 64 + h * 8 + w]
    mean, std = img.mean(axis=(0, 1, 2)), img.std(axis=(0, 1, 2))
    np.testing.assert_allclose(x_train, (img - mean) / std, rtol=1e-5, atol=1e-5)


def test_standardisation_uses_training_statistics(folder):
    x_train, _, x_test, _ = cifar.load_cifar10(folder)
    np.testing.assert_allclose(x_train.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(x_train.std(axis=(0, 1, 2)), 1.0, atol=1e-5)
    # the test set is shifted and scaled by the same numbers, not by its own
    raw_train = cifar.to_nhwc(np.concatenate([_raw(folder / f)[b"data"] for f in cifar.TRAIN_FILES]))
    raw_test = cifar.to_nhwc(_raw(folder / "test_batch")[b"data"]).astype(np.float64)
    mean = raw_train.mean(axis=(0, 1, 2))
    std = raw_train.std(axis=(0, 1, 2))
    np.testing.assert_allclose(x_test, (raw_test - mean) / std, rtol=1e-5, atol=1e-5)


def test_num_train_keeps_the_first_images_and_their_statistics(folder):
    x_all, y_all, _, _ = cifar.load_cifar10(folder)
    x, y, _, y_test = cifar.load_cifar10(folder, num_train=30)
    assert x.shape[0] == 30 and len(y_test) == 30
    np.testing.assert_array_equal(y, y_all[:30])
    np.testing.assert_allclose(x.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    for bad in (0, 101, 2.5):
        with pytest.raises(ValueError, match="num_train"):
            cifar.load_cifar10(folder, num_train=bad)


def test_synthetic_is_deterministic(tmp_path):
    a = cifar.write_synthetic_cifar(tmp_path / "a", 5, 5, image_size=4, seed=1)
    b = cifar.write_synthetic_cifar(tmp_path / "b", 5, 5, image_size=4, seed=1)
    c = cifar.write_synthetic_cifar(tmp_path / "c", 5, 5, image_size=4, seed=2)
    assert (a / "data_batch_2").read_bytes() == (b / "data_batch_2").read_bytes()
    assert (a / "data_batch_2").read_bytes() != (c / "data_batch_2").read_bytes()


def test_missing_folder(tmp_path):
    path = tmp_path / "nowhere"
    with pytest.raises(cifar.CifarError) as err:
        cifar.load_cifar10(path)
    msg = str(err.value)
    assert str(path) in msg and "data_batch_1" in msg and "test_batch" in msg
    assert "\n" not in msg


def test_missing_file(tmp_path):
    d = cifar.write_synthetic_cifar(tmp_path / "c", 3, 3, image_size=4)
    (d / "data_batch_3").unlink()
    with pytest.raises(cifar.CifarError) as err:
        cifar.load_cifar10(d)
    msg = str(err.value)
    assert "data_batch_3" in msg and str(d) in msg and "test_batch" in msg


def _write(path, obj):
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)


MALFORMED = {
    "not a pickle": lambda p: p.write_bytes(b"this is not a pickle"),
    "wrong keys": lambda p: _write(p, {b"images": np.zeros((3, 48), np.uint8), b"labels": [0, 1, 2]}),
    "not a dict": lambda p: _write(p, [1, 2, 3]),
    "wrong row length": lambda p: _write(p, {b"data": np.zeros((3, 50), np.uint8), b"labels": [0, 1, 2]}),
    "wrong dtype": lambda p: _write(p, {b"data": np.zeros((3, 48), np.float32), b"labels": [0, 1, 2]}),
    "label count": lambda p: _write(p, {b"data": np.zeros((3, 48), np.uint8), b"labels": [0, 1]}),
    "label range": lambda p: _write(p, {b"data": np.zeros((3, 48), np.uint8), b"labels": [0, 1, 10]}),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_file(tmp_path, kind):
    d = cifar.write_synthetic_cifar(tmp_path / "c", 3, 3, image_size=4)
    MALFORMED[kind](d / "data_batch_2")
    with pytest.raises(cifar.CifarError) as err:
        cifar.load_cifar10(d)
    msg = str(err.value)
    assert "malformed" in msg and str(d / "data_batch_2") in msg and "\n" not in msg


def test_batches_of_different_image_sizes(tmp_path):
    d = cifar.write_synthetic_cifar(tmp_path / "c", 3, 3, image_size=4)
    e = cifar.write_synthetic_cifar(tmp_path / "e", 3, 3, image_size=5)
    (d / "test_batch").write_bytes((e / "test_batch").read_bytes())
    with pytest.raises(cifar.CifarError, match="different image sizes"):
        cifar.load_cifar10(d)


class _Exploit:
    """A pickle that runs code when loaded with plain pickle.load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_malicious_batch_is_refused_without_running_code(tmp_path):
    """A crafted data_batch_1 must not execute anything."""
    d = cifar.write_synthetic_cifar(tmp_path / "c", 3, 3, image_size=4)
    marker = tmp_path / "pwned"
    _write(d / "data_batch_1", {b"data": _Exploit(marker), b"labels": [0, 1, 2]})
    with pytest.raises(cifar.CifarError, match="refused global (posix|os).system"):
        cifar.load_cifar10(d)
    assert not marker.exists()


def test_numpy_pickles_of_both_protocols_still_load(tmp_path):
    d = cifar.write_synthetic_cifar(tmp_path / "c", 3, 3, image_size=4)
    for protocol in (2, 4):
        with open(d / "data_batch_1", "wb") as fh:
            pickle.dump({b"data": np.zeros((3, 48), np.uint8), b"labels": [0, 1, 2],
                         b"batch_label": "training batch 1 of 5", b"filenames": [b"a", b"b", b"c"]}, fh,
                        protocol=protocol)
        data, labels = cifar.read_batch(d / "data_batch_1")
        assert data.shape == (3, 48) and labels.tolist() == [0, 1, 2]
