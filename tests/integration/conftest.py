"""pytest fixtures for the mtad end-to-end tests; helpers in mtadtest.py.

Run: MTAD_BIN=/work/main/build/mtad /usr/bin/python3 -m pytest -q tests/integration
"""
import os

import pytest

from mtadtest import MTAD_BIN, Client, Mtad


@pytest.fixture(autouse=True, scope="session")
def _require_mtad_bin():
    """No silent skips: without a usable MTAD_BIN every test errors out."""
    if not MTAD_BIN:
        pytest.fail("MTAD_BIN is not set; run as MTAD_BIN=/path/to/build/mtad "
                    "/usr/bin/python3 -m pytest tests/integration", pytrace=False)
    if not (os.path.isfile(MTAD_BIN) and os.access(MTAD_BIN, os.X_OK)):
        pytest.fail(f"MTAD_BIN={MTAD_BIN!r} is not an executable file (run make first)",
                    pytrace=False)


@pytest.fixture
def make_mtad(tmp_path):
    """Factory: make_mtad(**kw) -> a started Mtad (start=False: not started)."""
    made = []

    def make(name="mtad", start=True, **kw):
        m = Mtad(tmp_path, name=name, **kw)
        made.append(m)
        if start:
            m.start()
        return m

    yield make
    for m in made:
        m.cleanup()


@pytest.fixture
def mtad(make_mtad):
    return make_mtad()


@pytest.fixture
def connect():
    """Factory: connect(port, **kw) -> Client with the 220 already read."""
    clients = []

    def make(port, greet=True, **kw):
        c = Client(port, **kw)
        clients.append(c)
        if greet:
            c.greeting()
        return c

    yield make
    for c in clients:
        c.close()
