"""Child process of the cold-rows crash tests: offboards or moves a tenant, saying each part's steps, until killed.

``cold_child.py offboard|MODEL STORE OBJECTS GRAPH TENANT`` (MODEL: the model a move goes to).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from datastrata.core.config import Settings
from datastrata.runtime import Runtime
from datastrata.tenancy.move import start_move
from datastrata.tenancy.offboard import offboard_tenant
from datastrata.tiering.tenantrows import TenantRows


def main() -> None:
    mode, store, objects, graph, tenant = sys.argv[1:6]
    put, retire = TenantRows._put, TenantRows._retire

    def said_put(self: TenantRows, key: str, *args: Any) -> bytes:
        data = put(self, key, *args)
        print(f"written {self.objects.url} {key}", flush=True)  # the new part is stored, its record not moved yet
        time.sleep(0.5)
        return data

    def said_retire(self: TenantRows, old: str, new: str) -> None:
        print(f"recorded {new}", flush=True)  # the record names the new part; the old one is still there
        time.sleep(0.5)
        retire(self, old, new)

    TenantRows._put = said_put  # type: ignore[method-assign,assignment]
    TenantRows._retire = said_retire  # type: ignore[method-assign]
    with Runtime.open(Settings(store=store, objects=objects, graph=graph)) as runtime:
        runtime.tenants.ttl = 0.01  # type: ignore[attr-defined]
        if mode == "offboard":
            offboard_tenant(runtime, tenant)
        else:
            start_move(runtime, tenant, mode, grace=0, foreground=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
