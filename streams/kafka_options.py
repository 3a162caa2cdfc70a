"""Kafka client options for SASL and TLS, from the settings: one place for every client
(Faust, the aiokafka producers and consumers, kafka-python's producer, consumer and admin)."""

from __future__ import annotations

import ssl
from typing import Any

from streams.settings import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A TLS context verifying the broker against the configured CA (else the system's)."""
    if "SSL" not in settings.kafka_security_protocol:
        return None
    context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    return context


def _password(settings: Settings) -> str | None:
    return settings.secret("kafka_sasl_password")


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient."""
    opts: dict[str, Any] = {}
    if settings.kafka_security_protocol != "PLAINTEXT":
        opts["security_protocol"] = settings.kafka_security_protocol
    if settings.kafka_sasl_mechanism:
        opts["sasl_mechanism"] = settings.kafka_sasl_mechanism
        opts["sasl_plain_username"] = settings.kafka_sasl_username
        opts["sasl_plain_password"] = _password(settings)
    context = ssl_context(settings)
    if context is not None:
        opts["ssl_context"] = context
    return opts


def kafka_python_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for kafka-python's KafkaProducer / KafkaConsumer / KafkaAdminClient."""
    opts: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    if settings.kafka_sasl_mechanism:
        opts["sasl_mechanism"] = settings.kafka_sasl_mechanism
        opts["sasl_plain_username"] = settings.kafka_sasl_username
        opts["sasl_plain_password"] = _password(settings)
    context = ssl_context(settings)
    if context is not None:
        opts["ssl_context"] = context
    return opts


def faust_credentials(settings: Settings) -> Any:
    """Faust's `broker_credentials`: SASL (over TLS when the protocol says SSL) or TLS alone."""
    import faust

    context = ssl_context(settings)
    if settings.kafka_sasl_mechanism:
        return faust.SASLCredentials(username=settings.kafka_sasl_username or "",
                                     password=_password(settings) or "",
                                     ssl_context=context,
                                     mechanism=settings.kafka_sasl_mechanism)
    if context is not None:
        return faust.SSLCredentials(context)
    return None
