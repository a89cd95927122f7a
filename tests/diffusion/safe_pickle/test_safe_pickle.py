"""The restricted unpickler: admitted globals resolve, everything else is refused by name."""

import io
import pickle

import numpy as np
import pytest

from koopkit_diffusion.safe_pickle import NUMPY_ARRAY_GLOBALS, UnsafePickleError, restricted_loads


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_arrays_scalars_and_containers_load_under_every_protocol(protocol):
    value = {b"data": np.arange(12, dtype=np.uint8).reshape(3, 4), "x": [np.float64(0.5), (1, 2)]}
    out = restricted_loads(pickle.dumps(value, protocol=protocol), NUMPY_ARRAY_GLOBALS, "f")
    np.testing.assert_array_equal(out[b"data"], value[b"data"])
    assert out["x"] == value["x"]


def test_a_global_outside_the_table_is_refused_by_name():
    data = pickle.dumps(eval)  # noqa: S307 (the pickle only names it)
    with pytest.raises(
        UnsafePickleError, match=r"batch.bin: refused to load the global builtins\.eval"
    ):
        restricted_loads(data, NUMPY_ARRAY_GLOBALS, "batch.bin")


def test_persistent_ids_are_refused():
    class WithIds(pickle.Pickler):
        def persistent_id(self, obj):
            return "storage-0" if isinstance(obj, bytearray) else None

    buf = io.BytesIO()
    WithIds(buf).dump([bytearray(b"x")])
    with pytest.raises(UnsafePickleError, match="refused a persistent id 'storage-0'"):
        restricted_loads(buf.getvalue(), NUMPY_ARRAY_GLOBALS, "f")


def test_a_damaged_pickle_is_a_value_error_naming_the_file():
    data = pickle.dumps({"a": np.zeros(3)})[:-5]
    with pytest.raises(ValueError, match="f.pkl: not a readable pickle"):
        restricted_loads(data, NUMPY_ARRAY_GLOBALS, "f.pkl")
