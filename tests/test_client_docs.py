"""The runnable (``>>>``) examples in the client's, the relay's and the CLI's docstrings.

The examples that need a server are run against one in ``test_client.py``.
"""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import sse_asgi
import sse_asgi.__main__
import sse_asgi._relay
import sse_asgi.client._encoding
import sse_asgi.client._state

MODULES = [sse_asgi.client._state, sse_asgi.client._encoding, sse_asgi._relay, sse_asgi.__main__]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, extraglobs=vars(sse_asgi), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
