"""Released migrations never change: their checksums are pinned here, so an edit fails in CI, not in production."""

from __future__ import annotations

from datastrata.catalog import components
from datastrata.integrations.eventsourcing import TRACKING_MIGRATIONS

#: (component, version, dialect) -> the first 16 hex digits of the SHA-256 of its SQL, as released. Add a line for
#: each new migration once it is released; never change one: put the change into a new numbered migration.
RELEASED = {
    ("eventlog", 1, "sqlite"): "8d289c0c3453733c",
    ("eventlog", 1, "postgresql"): "8ecff05bb31834c2",
    ("eventlog", 2, "postgresql"): "ad838d04621fd0e5",
    ("eventlog", 3, "postgresql"): "df95005a90a4f517",
    ("eventlog", 4, "sqlite"): "f9c383193b12f9b1",
    ("eventlog", 4, "postgresql"): "1e2f34dbdcea641f",
    ("messaging", 1, "sqlite"): "d5a22a7ef2e020e3",
    ("messaging", 1, "postgresql"): "d1335e13b2a88721",
    ("checkpoints", 1, "sqlite"): "6ea60dac105fac23",
    ("checkpoints", 1, "postgresql"): "4acfa8670929a99d",
    ("portfolio.holders", 1, "sqlite"): "0c8f45c9aa3c7dd3",
    ("portfolio.holders", 1, "postgresql"): "14f1b3e95552feb5",
    ("mdm", 1, "sqlite"): "9bf9648ecd0611bb",
    ("mdm", 1, "postgresql"): "d29dcbf7efe5266d",
    ("masterdata.alerts", 1, "sqlite"): "2c825dbf70a564e9",
    ("masterdata.alerts", 1, "postgresql"): "0bb61a1eca67a954",
    ("mdm.copy.masterdata_customer_copies", 1, "sqlite"): "b6157c518ee2bffc",
    ("mdm.copy.masterdata_customer_copies", 1, "postgresql"): "4ccdf376e24605d8",
    ("masterdata.customer-service", 1, "sqlite"): "75a5d1e54d0ca5d0",
    ("masterdata.customer-service", 1, "postgresql"): "b384eb90c1c83355",
    ("mdm.copy.masterdata_product_copies", 1, "sqlite"): "40020c6d517a4e43",
    ("mdm.copy.masterdata_product_copies", 1, "postgresql"): "d0d96c1c51977672",
    ("masterdata.product-service", 1, "sqlite"): "d6d02c74d3bd2f7d",
    ("masterdata.product-service", 1, "postgresql"): "d6d02c74d3bd2f7d",
    ("mdm.copy.masterdata_supplier_copies", 1, "sqlite"): "475ce8df19f400c5",
    ("mdm.copy.masterdata_supplier_copies", 1, "postgresql"): "3d9a8bf7e4323c05",
    ("masterdata.supply-chain", 1, "sqlite"): "0bc920afdc70fcda",
    ("masterdata.supply-chain", 1, "postgresql"): "e1462f54255d478d",
    ("match", 1, "sqlite"): "70a21adbb24e9e40",
    ("match", 1, "postgresql"): "02add71f015cbb9e",
    ("match.tv", 1, "sqlite"): "0dc3c0785275ad1b",
    ("match.tv", 1, "postgresql"): "c73e6d4c2ba51fb8",
    ("match.news", 1, "sqlite"): "4005060875fbcc82",
    ("match.news", 1, "postgresql"): "aa1f0917f66466b4",
    ("match.social", 1, "sqlite"): "2bed9bb0ba9fffb4",
    ("match.social", 1, "postgresql"): "c94fe917da900c70",
    ("match.analytics", 1, "sqlite"): "65dcd538a45dd648",
    ("match.analytics", 1, "postgresql"): "68af7ad2dd69edea",
    ("food", 1, "sqlite"): "1fd794d0afe54271",
    ("food", 1, "postgresql"): "872b1da20b6bdfbc",
    ("eventsourcing_tracking", 1, "sqlite"): "7f766f319160a5bd",
    ("eventsourcing_tracking", 1, "postgresql"): "7f766f319160a5bd",
    ("messaging", 2, "sqlite"): "2395a4b0c874997e",
    ("messaging", 2, "postgresql"): "35a1f1f0d6ef007e",
    ("checkpoints", 2, "sqlite"): "d2defda61c0583b8",
    ("checkpoints", 2, "postgresql"): "d2defda61c0583b8",
    ("checkpoints", 3, "sqlite"): "621ad8d7aa5943fd",
    ("checkpoints", 3, "postgresql"): "ee28bbea364fb062",
    ("portfolio.holders", 2, "sqlite"): "e9ac0a72bfe94942",
    ("portfolio.holders", 2, "postgresql"): "9de05a4d71896811",
    ("match.tv", 2, "sqlite"): "8f5e06c1947b3575",
    ("match.tv", 2, "postgresql"): "2362e1018e317ee2",
    ("match.news", 2, "sqlite"): "ec35d9886b11e512",
    ("match.news", 2, "postgresql"): "c27c3343dabfa606",
    ("match.social", 2, "sqlite"): "015682b323e889d5",
    ("match.social", 2, "postgresql"): "3f34d7ee431ced60",
    ("match.analytics", 2, "sqlite"): "8d7ef623cb7546a9",
    ("match.analytics", 2, "postgresql"): "c60e31fb2dd03a7a",
    ("jobs", 1, "sqlite"): "f63f1b1cdf175a84",
    ("jobs", 1, "postgresql"): "504ecce266cdde54",
    ("idempotency", 1, "sqlite"): "5e6b9c8f82bf45af",
    ("idempotency", 1, "postgresql"): "b5fadfc753be33cc",
    ("eventlog", 5, "sqlite"): "307aa34680e65d87",
    ("eventlog", 5, "postgresql"): "132a6a3838c818fa",
    ("jobs", 2, "sqlite"): "9e41bf1041f362bd",
    ("jobs", 2, "postgresql"): "0af384c92db3de83",
    ("tiering", 1, "sqlite"): "807f0ecf87729f18",
    ("tiering", 1, "postgresql"): "d62c7a4f9e33a141",
    ("tiering.iceberg", 1, "sqlite"): "56ff124173d6c256",
    ("tiering.iceberg", 1, "postgresql"): "56ff124173d6c256",
    ("tiering.restores", 1, "sqlite"): "7618eeea05ede806",
    ("tiering.restores", 1, "postgresql"): "0e41b98b7a073232",
    ("tenancy.subjects", 1, "sqlite"): "56fd6ee0673818a6",
    ("tenancy.subjects", 1, "postgresql"): "b69b1fcc223d8d82",
    ("tenancy.subjects", 2, "sqlite"): "7f0cc8e6cf7eea72",
    ("tenancy.subjects", 2, "postgresql"): "7f0cc8e6cf7eea72",
    ("security", 1, "sqlite"): "8090f164c2363228",
    ("security", 1, "postgresql"): "ed9cbeb57f611c7d",
    ("eventlog", 6, "sqlite"): "9bad6dce764de68e",
    ("eventlog", 6, "postgresql"): "82eade7217885254",
    ("mlops", 1, "sqlite"): "572e75763030016c",
    ("mlops", 1, "postgresql"): "48c86ae5bdb85e17",
    ("fab", 1, "sqlite"): "28730d2080494f1a",
    ("fab", 1, "postgresql"): "1586505eb694e549",
    ("eventlog", 7, "sqlite"): "7b6bed6882a3c8d2",
    ("eventlog", 7, "postgresql"): "9e1bd3a767a279bd",
    ("eventlog", 8, "postgresql"): "6d64881f3e258290",
    ("messaging", 3, "sqlite"): "8d02e53a1df44d65",
    ("messaging", 3, "postgresql"): "4f82c4bd6a7ff406",
    ("portfolio.holders", 3, "sqlite"): "aefc95f7c4266442",
    ("portfolio.holders", 3, "postgresql"): "321b75fdd2ed7d5f",
    ("mdm", 2, "sqlite"): "de532371ab457fdb",
    ("mdm", 2, "postgresql"): "fcf5262da3da2666",
    ("jobs", 3, "sqlite"): "206223a7114983ee",
    ("jobs", 3, "postgresql"): "206223a7114983ee",
    ("tenancy", 1, "sqlite"): "75434d5e721b26e7",
    ("tenancy", 1, "postgresql"): "36ec021c904d14dd",
    ("runtime.moves", 1, "sqlite"): "be9ea8b50369e1e6",
    ("runtime.moves", 1, "postgresql"): "c8dd0a7aeb8e7754",
    ("content", 1, "sqlite"): "2a653c525add7645",
    ("content", 1, "postgresql"): "cd65655e0b029407",
    ("tenancy.grants", 1, "sqlite"): "421f96e003d57e9d",
    ("tenancy.grants", 1, "postgresql"): "ec9f69edc192563b",
}


def test_released_migrations_are_unchanged() -> None:
    current = {
        (c.name, m.version, dialect): m.checksum(dialect)[:16]
        for c in [*components(), TRACKING_MIGRATIONS]
        for m in c.migrations
        for dialect in ("sqlite", "postgresql")
        if m.sql(dialect) is not None
    }
    changed = sorted(key for key, checksum in RELEASED.items() if current.get(key) != checksum)
    assert not changed, (
        f"released migrations changed or vanished: {changed}; restore their SQL (a store that applied them refuses "
        "to open) and put the change into a new numbered migration"
    )
