import pytest

from ordex.core import fixdict


@pytest.fixture(scope="session")
def d44():
    return fixdict.load("FIX.4.4")


@pytest.fixture(scope="session")
def d42():
    return fixdict.load("FIX.4.2")
