"""Clone a migrated PostgreSQL schema into a new one in one transaction: tables, sequences, functions, rows."""

from __future__ import annotations

from datastrata.core.tenancy import Namespace
from datastrata.stores.database import Tx

_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ? AND c.relkind IN ('r', 'p') ORDER BY c.relname
"""
#: Columns whose default draws from a sequence of the template (a BIGSERIAL): each clone gets a sequence of its own.
_SERIALS = """
SELECT c.relname, a.attname, s.relname
FROM pg_depend d
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_class c ON c.oid = d.refobjid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid
WHERE n.nspname = ? AND d.deptype = 'a'
ORDER BY c.relname, a.attname
"""
_FUNCTIONS = """
SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ? AND p.prokind = 'f' ORDER BY p.proname
"""
_TRIGGERS = """
SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND NOT t.tgisinternal ORDER BY t.tgname
"""


def clone_schema(tx: Tx, template: str, target: Namespace) -> int:
    """Create schema `target.schema` as a copy of `template` inside `tx`; return how many tables it has.

    ``LIKE … INCLUDING ALL`` copies columns, defaults, constraints and indexes but shares the template's sequences
    and copies no functions or triggers: each BIGSERIAL gets its own sequence here, functions (the event log's
    SECURITY DEFINER ones use ``SET search_path FROM CURRENT``) and triggers are recreated naming the new schema,
    and the template's rows (``schema_migrations``, the log identity…) are copied. `target.role` gets DML on it.
    """
    schema = target.schema
    assert schema is not None, "a clone needs a schema name"
    new, old = _q(schema), _q(template)
    tables = [str(name) for (name,) in tx.query(_TABLES, (template,))]
    serials = [(str(t), str(c), str(s)) for t, c, s in tx.query(_SERIALS, (template,))]
    definitions = [str(d) for (d,) in tx.query(_FUNCTIONS, (template,)) + tx.query(_TRIGGERS, (template,))]
    script = [f"CREATE SCHEMA {new}"]
    script += [f"CREATE TABLE {new}.{_q(t)} (LIKE {old}.{_q(t)} INCLUDING ALL)" for t in tables]
    for table, column, sequence in serials:
        seq = f"{new}.{_q(sequence)}"
        script.append(f"CREATE SEQUENCE {seq} OWNED BY {new}.{_q(table)}.{_q(column)}")
        script.append(f"ALTER TABLE {new}.{_q(table)} ALTER COLUMN {_q(column)} SET DEFAULT nextval('{seq}'::regclass)")
    script.append(f"SELECT set_config('search_path', '{new}', true)")
    script += [_renamed(d, template, schema) for d in definitions]
    # OVERRIDING SYSTEM VALUE: an identity column (GENERATED ALWAYS) takes the template's values as they are
    script += [f"INSERT INTO {new}.{_q(t)} OVERRIDING SYSTEM VALUE SELECT * FROM {old}.{_q(t)}" for t in tables]
    if "eventlog_identity" in tables:  # a new log: it must not pass for the template's (or another tenant's)
        script.append(
            f"UPDATE {new}.eventlog_identity SET log_id = replace(gen_random_uuid()::text, '-', ''), created_at = now()"
        )
    tx.run_script(";\n".join(script))  # one round trip: the definitions are sent as written (no placeholders)
    return len(tables)


def drop_schema(tx: Tx, schema: str) -> None:
    """Drop a cloned schema and everything in it."""
    tx.execute(f"DROP SCHEMA IF EXISTS {_q(schema)} CASCADE")


def _renamed(definition: str, template: str, schema: str) -> str:
    """A function or trigger definition of the template, naming `schema` wherever it named the template."""
    return (
        definition.replace(f"{template}.", f"{_q(schema)}.")
        .replace(f"'{template}'", f"'{schema}'")
        .replace(f'"{template}"', _q(schema))
    )


def _q(name: str) -> str:
    """Quote an identifier (names here are checked ``[a-z_][a-z0-9_]*`` already)."""
    return '"' + name.replace('"', '""') + '"'
