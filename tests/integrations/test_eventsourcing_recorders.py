"""eventsourcing's own abstract recorder and factory test cases, run on datastrata over SQLite and PostgreSQL.

The base classes are reached through their module (``es``) so pytest does not collect the abstract ones.
"""

from __future__ import annotations

import bisect
import dataclasses
import importlib.util
import os
from collections.abc import Sequence
from typing import Any, cast

import pytest

if importlib.util.find_spec("Crypto") is None:  # eventsourcing.tests.persistence imports its AES cipher
    _reason = "eventsourcing's test cases need pycryptodome; install it with: pip install 'eventsourcing[crypto]'"
    if os.environ.get("DATASTRATA_REQUIRE_SERVERS") == "1":
        raise ImportError(_reason)
    pytest.skip(_reason, allow_module_level=True)

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    Notification,
    ProcessRecorder,
    StoredEvent,
    TrackingRecorder,
)
from eventsourcing.tests import persistence as es
from eventsourcing.utils import Environment

from datastrata.integrations.eventsourcing import (
    DatastrataAggregateRecorder,
    DatastrataApplicationRecorder,
    DatastrataProcessRecorder,
    DatastrataTrackingRecorder,
    Factory,
)
from datastrata.stores.database import Database
from datastrata.stores.open import open_database


class Store:
    """Opens the test's store (its URL is set by the sqlite_store / pg_store fixture) and closes it afterwards."""

    store_url: str

    def open_db(self) -> Database:
        db = open_database(self.store_url)
        self.addCleanup(db.close)  # type: ignore[attr-defined]
        return db


@pytest.mark.usefixtures("sqlite_store")
class OnSqlite(Store):
    """Runs the case on a fresh SQLite file."""


@pytest.mark.postgres
@pytest.mark.usefixtures("pg_store")
class OnPostgres(Store):
    """Runs the case on a fresh PostgreSQL database; notification ids are sparse there."""

    EXPECT_CONTIGUOUS_NOTIFICATION_IDS = False


class DenseIds:
    """Test-only view of an application recorder that renumbers its increasing, sparse notification ids 1, 2, 3…

    eventsourcing's ``test_insert_select`` asserts literal ids 1, 2, 3; through this view every other assertion of
    it (order, start/stop bounds, inclusive_of_start, topics, limit, max id) still checks the real recorder.
    """

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder
        self.sparse: list[int] = []

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> list[int]:
        ids = list(self.recorder.insert_events(stored_events, **kwargs) or [])
        assert ids == sorted(ids) and (not self.sparse or not ids or ids[0] > self.sparse[-1])
        self.sparse.extend(ids)
        return list(range(len(self.sparse) - len(ids) + 1, len(self.sparse) + 1))

    def _to_sparse(self, dense: int | None) -> int | None:
        if dense is None or dense <= 0 or not self.sparse:
            return dense
        if dense <= len(self.sparse):
            return self.sparse[dense - 1]
        return self.sparse[-1] + dense - len(self.sparse)

    def _to_dense(self, sparse: int) -> int:
        index = bisect.bisect_left(self.sparse, sparse)
        assert self.sparse[index] == sparse
        return index + 1

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> list[Notification]:
        found = self.recorder.select_notifications(
            self._to_sparse(start), limit, self._to_sparse(stop), topics, inclusive_of_start=inclusive_of_start
        )
        return [dataclasses.replace(n, id=self._to_dense(n.id)) for n in found]

    def max_notification_id(self) -> int | None:
        top = self.recorder.max_notification_id()
        return None if top is None else self._to_dense(top)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.recorder, name)


# ---- aggregate recorder ----------------------------------------------------------------------------------------


class AggregateCase(Store):
    def create_recorder(self) -> AggregateRecorder:
        return DatastrataAggregateRecorder(self.open_db())


class TestAggregateRecorderSqlite(AggregateCase, OnSqlite, es.AggregateRecorderTestCase):
    pass


class TestAggregateRecorderPostgres(AggregateCase, OnPostgres, es.AggregateRecorderTestCase):
    pass


# ---- application recorder --------------------------------------------------------------------------------------


class ApplicationCase(Store):
    dense_view = False

    def create_recorder(self) -> ApplicationRecorder:
        recorder = DatastrataApplicationRecorder(self.open_db())
        return cast(ApplicationRecorder, DenseIds(recorder)) if self.dense_view else recorder

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()  # type: ignore[attr-defined]


class TestApplicationRecorderSqlite(ApplicationCase, OnSqlite, es.ApplicationRecorderTestCase):
    pass


class TestApplicationRecorderPostgres(ApplicationCase, OnPostgres, es.ApplicationRecorderTestCase):
    def test_insert_select(self) -> None:
        """Run the upstream test through DenseIds: it asserts the literal ids 1, 2, 3 (see DenseIds)."""
        self.dense_view = True
        super().test_insert_select()


class NonInterleavingCase(Store):
    def create_recorder(self) -> ApplicationRecorder:
        return DatastrataApplicationRecorder(self.open_db())


class TestNonInterleavingSqlite(NonInterleavingCase, OnSqlite, es.NonInterleavingNotificationIDsBaseCase):
    pass


class TestNonInterleavingPostgres(NonInterleavingCase, OnPostgres, es.NonInterleavingNotificationIDsBaseCase):
    pass


# ---- tracking and process recorders ----------------------------------------------------------------------------


class TrackingCase(Store):
    def create_recorder(self) -> TrackingRecorder:
        return DatastrataTrackingRecorder(self.open_db())


class TestTrackingRecorderSqlite(TrackingCase, OnSqlite, es.TrackingRecorderTestCase):
    pass


class TestTrackingRecorderPostgres(TrackingCase, OnPostgres, es.TrackingRecorderTestCase):
    pass


class ProcessCase(Store):
    def create_recorder(self) -> ProcessRecorder:
        return DatastrataProcessRecorder(self.open_db())


class TestProcessRecorderSqlite(ProcessCase, OnSqlite, es.ProcessRecorderTestCase):
    pass


class TestProcessRecorderPostgres(ProcessCase, OnPostgres, es.ProcessRecorderTestCase):
    pass


# ---- infrastructure factory ------------------------------------------------------------------------------------


class CustomTrackingRecorder(DatastrataTrackingRecorder):
    """A subclass the factory must construct when asked for it."""


class FactoryCase(Store):
    def setUp(self) -> None:
        self.env = Environment("TestCase")
        self.env["PERSISTENCE_MODULE"] = "datastrata.integrations.eventsourcing"
        self.env["DATASTRATA_STORE"] = self.store_url
        super().setUp()  # type: ignore[misc]

    def expected_factory_class(self) -> type[Factory]:
        return Factory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return DatastrataAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return DatastrataApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return DatastrataTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return CustomTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return DatastrataProcessRecorder


class TestFactorySqlite(FactoryCase, OnSqlite, es.InfrastructureFactoryTestCase[Factory]):
    pass


class TestFactoryPostgres(FactoryCase, OnPostgres, es.InfrastructureFactoryTestCase[Factory]):
    pass
