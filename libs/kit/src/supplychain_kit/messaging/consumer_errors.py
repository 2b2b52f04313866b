"""What a consumer retries instead of dead-lettering: an outage, or data not known yet."""

from __future__ import annotations

import asyncpg


class NotKnownYet(Exception):
    """The event refers to reference data this service has not learnt yet: it travels on
    another topic and is on its way. Retried like an outage (nothing committed, fetched
    again): the event is not bad, it is early. With `ConsumerConfig.not_known_wait_s` set,
    a record still waiting after that long is dead-lettered with the error as its reason,
    so one record naming data that never comes does not stall its partition."""


# Errors that say "the world is not reachable right now", not "this message is bad":
# the record is fetched again later instead of being dead-lettered.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    NotKnownYet,
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    # a pooled connection the database terminated (a restart, pg_terminate_backend) can fail
    # its next statement with "cannot switch to state ...; another operation is in
    # progress": the connection, never the record (seen in test_hardening_consumer_outage)
    asyncpg.InternalClientError,
    # the server ended the connection's transaction for lasting too long (an overloaded
    # database, or this process frozen): the connection, never the record
    asyncpg.TransactionTimeoutError,
    asyncpg.IdleInTransactionSessionTimeoutError,
)
