"""A move's objects: a tenant's objects copied between two locations' object stores, compared by checksum.

Which keys are the tenant's is what components registered (``runtime.tenantdata.register_objects``: content's
footage under each stage, ``tenants/<id>/``). Each object is copied as it is (bytes, storage class, stage and ages,
:meth:`ObjectStore.copy_to`); one already at the target with the same size and SHA-256 is skipped, so a redone
copy is harmless. An archived object cannot be read: the move restores it first (:mod:`datastrata.runtime.movearchive`),
and one archived at the source after that is left out of the copy, so the verify tells the two ends apart.
"""

from __future__ import annotations

import hashlib

from datastrata.runtime.location import Location
from datastrata.runtime.tenantdata import object_prefixes
from datastrata.tiering.objects import ObjectInfo, ObjectStore


class TenantObjects:
    """Carries one tenant's objects between the object stores of two locations."""

    def __init__(self) -> None:
        self._stores: dict[str, ObjectStore] = {}

    def copy(self, source: Location, target: Location, subject: str) -> tuple[int, int]:
        """Copy every object of `subject` the target lacks or holds differently: (objects copied, their bytes)."""
        here, there = self.store(source), self.store(target)
        if here is None or there is None or here.url == there.url:
            return 0, 0
        held = {o.key: o for o in self.objects_of(there, subject)}
        copied = nbytes = 0
        now = here.clock()
        for info in self.objects_of(here, subject):
            other = held.pop(info.key, None)
            if not info.readable(now):
                continue  # archived since its restore: it cannot be read, and the verify reports it
            if other is not None and other.size == info.size and there.checksum(info.key) == here.sha256(info.key):
                continue
            here.copy_to(info.key, there)
            copied, nbytes = copied + 1, nbytes + info.size
        for stale in held:  # deleted at the source since an earlier copy
            there.delete(stale)
        return copied, nbytes

    def digest(self, location: Location, subject: str) -> tuple[int, str]:
        """Return how many objects `subject` has in `location` and the SHA-256 over their keys and checksums."""
        store = self.store(location)
        if store is None:
            return 0, hashlib.sha256().hexdigest()
        sha, n = hashlib.sha256(), 0
        for info in self.objects_of(store, subject):
            checksum = store.checksum(info.key) or "archived, not restored"
            sha.update(f"{info.key}\t{info.storage_class}\t{checksum}\n".encode())
            n += 1
        return n, sha.hexdigest()

    def size(self, location: Location, subject: str) -> tuple[int, int]:
        """Return how many objects `subject` has in `location` and their bytes (a move's plan)."""
        store = self.store(location)
        found = self.objects_of(store, subject) if store is not None else []
        return len(found), sum(o.size for o in found)

    def delete(self, location: Location, subject: str) -> int:
        """Delete `subject`'s objects in `location` (a completed move's source, a reversed move's target)."""
        store = self.store(location)
        if store is None:
            return 0
        found = self.objects_of(store, subject)
        for info in found:
            store.delete(info.key)
        return len(found)

    def store(self, location: Location) -> ObjectStore | None:
        """The object store of `location` (None: it has none), opened once per URL."""
        url = location.spec.objects
        if not url:
            return None
        if url not in self._stores:
            self._stores[url] = ObjectStore(url, clock=location.clock)
        return self._stores[url]

    @staticmethod
    def objects_of(store: ObjectStore, subject: str) -> list[ObjectInfo]:
        """Every object of `subject` in `store`: under each prefix the components registered."""
        return [info for prefix in object_prefixes(subject) for info in store.list(prefix)]
