import os
import pickle

import numpy as np
import pytest

from pam import safe_pickle


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_arrays_round_trip(protocol):
    data = {"a": np.arange(6.0).reshape(2, 3), "b": [np.int32(3), "text"], "f": np.asfortranarray(np.eye(3)[:, :2])}
    back = safe_pickle.loads(pickle.dumps(data, protocol=protocol))
    np.testing.assert_array_equal(back["a"], data["a"])
    np.testing.assert_array_equal(back["f"], data["f"])
    assert back["b"] == [3, "text"] and back["b"][0].dtype == np.int32


def test_globals_outside_the_allow_list_are_refused_before_running():
    with pytest.raises(safe_pickle.UnsafePickleError, match=r"system from a test file"):
        safe_pickle.loads(pickle.dumps(Exploit()), what="a test file")
    extra = {("collections", "OrderedDict"): dict}
    assert safe_pickle.loads(pickle.dumps(__import__("collections").OrderedDict(a=1)), extra) == {"a": 1}
