"""Session-wide embedded servers: the Tansu broker and a Redis-protocol server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.tools.embedded import EmbeddedKafka, EmbeddedRedis


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """`host:port` of an embedded Tansu broker (memory-only), shared by the session."""
    with EmbeddedKafka() as kafka:
        yield kafka.bootstrap


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """`redis://` URL of an embedded Redis-protocol server, shared by the session."""
    with EmbeddedRedis() as server:
        yield server.url
