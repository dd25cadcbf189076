# SPDX-License-Identifier: GPL-3.0-or-later
"""Integration fixtures: a moto server on 127.0.0.1, the only AWS these tests talk to."""
from __future__ import annotations

import os
import typing as t
import urllib.request

import pytest

from local_moto import FAKE_AWS, moto_server


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[str]:
    """Start `moto_server` on a free loopback port for the whole session; yield its URL.

    Credentials and region in the environment are fakes, so nothing can reach real AWS."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with moto_server(log) as url:
        saved = {key: os.environ.get(key) for key in FAKE_AWS}
        os.environ.update(FAKE_AWS)
        try:
            yield url
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture
def moto(moto_endpoint: str) -> str:
    """The moto URL with every resource of earlier tests removed."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    return moto_endpoint
