"""The model registry: versions with artifacts in object storage, lifecycle stages, aliases, archive and restore.

Every change is a command (one transaction, an idempotency key, an event in the model's stream). The registry's
rows are the truth about a version's stage; each artifact's sidecar carries the same stage for the tiering policy
(``policy.yaml``: unapproved versions older than a year freeze), and :meth:`ModelRegistry.archive` brings the
sidecars in line before it plans.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

import yaml

from datastrata.core.errors import NotFound, RuleViolation, ValidationError
from datastrata.core.events import NewEvent
from datastrata.core.tenancy import DEFAULT_TENANT
from datastrata.core.validation import bounded_int
from datastrata.runtime import Runtime, Scope
from datastrata.runtime.location import Work
from datastrata.stores.database import time_from_db, time_to_db
from datastrata.systems.mlops.domain import (
    MODELS,
    ModelVersion,
    check_alias_target,
    check_metrics,
    check_model,
    check_name,
    check_transition,
)
from datastrata.tiering.moves import Mover
from datastrata.tiering.objects import ObjectStore
from datastrata.tiering.plan import plan
from datastrata.tiering.policy import Policy, parse_policy
from datastrata.tiering.restores import request_restore
from datastrata.writes.commands import CommandHandler, CommandResult, Decision
from datastrata.writes.idempotency import Claim

PREFIX = "mlops/models/"
#: Largest artifact one registration takes (larger models belong in a multipart upload, not one request).
MAX_ARTIFACT = 512 * 1024 * 1024
_COLUMNS = "model, version, artifact, sha256, bytes, stage, metrics, registered_at, stage_changed_at"
#: The archive run is a job over every tenant's artifacts (the operator's, not a caller's command): it takes no
#: caller's tenant, and what it changes belongs to the tenant of the row it handles. This scope only names the
#: registry's location.
_PLATFORM = Scope(MODELS, tenant=DEFAULT_TENANT)


#: The pipeline's tiering policy, shipped as package data.
POLICY_FILE = resources.files("datastrata.systems.mlops").joinpath("policy.yaml")


def shipped_policy() -> Policy:
    """The pipeline's tiering policy (``systems/mlops/policy.yaml``), validated."""
    return parse_policy(yaml.safe_load(POLICY_FILE.read_text(encoding="utf-8")))


class ModelRegistry:
    """Models and their versions, for the current tenant."""

    def __init__(self, runtime: Runtime, commands: CommandHandler, objects: ObjectStore) -> None:
        self.runtime = runtime
        self.commands = commands
        self.objects = objects

    # ---- commands --------------------------------------------------------------------------------------------

    def register(
        self, model: str, artifact: bytes, *, metrics: Mapping[str, float] | None = None, key: str | None = None
    ) -> CommandResult:
        """Register a new version (stage ``pending``) whose artifact is stored in the object store."""
        name = check_model(model)
        if not isinstance(artifact, bytes) or not 1 <= len(artifact) <= MAX_ARTIFACT:
            raise ValidationError(f"artifact must be 1 byte to {MAX_ARTIFACT // 2**20} MiB", field="artifact")
        measured = check_metrics(metrics)
        sha = hashlib.sha256(artifact).hexdigest()
        path = f"{PREFIX}{Scope.of(MODELS).tenant}/{name}/{sha}.bin"
        fresh = not self.objects.exists(path)  # content-addressed: the same bytes are the same object
        if fresh:
            self.objects.put(path, artifact, stage="pending")

        def decide(work: Work) -> Decision:
            held = work.scalar(
                "SELECT version FROM mlops_models WHERE tenant_id = ? AND model = ? AND sha256 = ?",
                (work.scope.tenant, name, sha),
            )
            if held is not None:
                raise RuleViolation(
                    f"{name} v{held} already has this artifact (sha256 {sha[:12]}…); register a changed artifact",
                    field="artifact",
                )
            version = 1 + int(
                work.scalar(
                    "SELECT COALESCE(MAX(version), 0) FROM mlops_models WHERE tenant_id = ? AND model = ?",
                    (work.scope.tenant, name),
                )
            )
            now = time_to_db(work.dialect, self.runtime.clock())
            work.execute(
                f"INSERT INTO mlops_models (tenant_id, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (work.scope.tenant, name, version, path, sha, len(artifact), "pending", json.dumps(measured), now, now),
            )
            payload = {
                "model": name,
                "version": version,
                "artifact": path,
                "sha256": sha,
                "bytes": len(artifact),
                "metrics": measured,
                "stage": "pending",
            }
            return Decision(work.scope, [NewEvent("ModelRegistered", payload)])

        content = {"model": name, "sha256": sha, "metrics": measured}
        try:
            return self.commands.execute("register", self._scope(name), decide, key=key, content=content)
        except BaseException:
            if fresh:  # written by this call: no version holds it
                self.objects.delete(path)
            raise

    def set_stage(self, model: str, version: int, stage: str, *, key: str | None = None) -> CommandResult:
        """Move a version along its lifecycle: pending → approved | rejected; approved | rejected → archived."""
        name = check_model(model)
        number = bounded_int(version, field="version", minimum=1)

        def decide(work: Work) -> Decision:
            held = self._version_in(work, name, number)
            check_transition(held, stage)
            work.execute(
                "UPDATE mlops_models SET stage = ?, stage_changed_at = ? WHERE tenant_id = ? AND model = ? "
                "AND version = ?",
                (stage, time_to_db(work.dialect, self.runtime.clock()), work.scope.tenant, name, number),
            )
            self.objects.set_stage(held.artifact, stage)  # last step before commit; archive() reconciles a crash
            payload = {"model": name, "version": number, "from": held.stage, "to": stage}
            return Decision(work.scope, [NewEvent("ModelStageChanged", payload)])

        content = {"model": name, "version": number, "stage": stage}
        return self.commands.execute("stage", self._scope(name), decide, key=key, content=content)

    def move_alias(self, model: str, alias: str, version: int, *, key: str | None = None) -> CommandResult:
        """Point `alias` (e.g. ``champion``) at an approved version; the alias leaves the version it was on."""
        name = check_model(model)
        label = check_name(alias, field="alias")
        number = bounded_int(version, field="version", minimum=1)

        def decide(work: Work) -> Decision:
            target = self._version_in(work, name, number)
            check_alias_target(target, label)
            before = work.scalar(
                "SELECT version FROM mlops_aliases WHERE tenant_id = ? AND model = ? AND alias = ?",
                (work.scope.tenant, name, label),
            )
            work.execute(
                "INSERT INTO mlops_aliases (tenant_id, model, alias, version, moved_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id, model, alias) DO UPDATE SET version = excluded.version, "
                "moved_at = excluded.moved_at",
                (work.scope.tenant, name, label, number, time_to_db(work.dialect, self.runtime.clock())),
            )
            payload = {"model": name, "alias": label, "from": before, "to": number}
            return Decision(work.scope, [NewEvent("ModelAliasMoved", payload)])

        content = {"model": name, "alias": label, "version": number}
        return self.commands.execute("alias", self._scope(name), decide, key=key, content=content)

    def restore(
        self, model: str, version: int, *, tier: str = "standard", days: int = 7, key: str | None = None
    ) -> dict[str, Any]:
        """Ask for a readable copy of a frozen artifact for `days` days: a restore job with its ETA (the article's
        "we have your request; we'll tell you when it is ready"); ``RestoreCompleted`` follows once it is readable."""
        found = self.version(model, version)
        content = {"model": found.model, "version": found.version, "tier": tier, "days": days}
        claim = None if key is None else Claim.of(Scope.of(MODELS).tenant, "mlops.models.restore", key, content)
        job = request_restore(
            self.runtime, shipped_policy(), "models", [found.artifact], tier=tier, days=days, claim=claim
        )
        return {"model": found.model, "version": found.version, **job.to_dict(self.runtime.clock())}

    def archive(self, *, dry_run: bool = False, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Run the shipped tiering policy now (every tenant's pipeline objects): freeze old unapproved models etc."""
        policy = shipped_policy()
        self._reconcile()
        mover = Mover(self.runtime.locate(_PLATFORM).db, self.objects, policy, clock=self.runtime.clock)
        planned = plan(policy, mover.inventory(), self.runtime.clock())
        if dry_run:
            return planned.to_dict()
        records = mover.run(planned, None if progress is None else lambda done, total, move: progress(done, total))
        return {"moved": [r.to_dict() for r in records], "held": [h.to_dict() for h in planned.held]}

    # ---- queries ---------------------------------------------------------------------------------------------

    def versions(self, model: str | None = None) -> list[ModelVersion]:
        """Every version (of `model`, or of every model), by model and version."""
        name = None if model is None else check_model(model)
        with self.runtime.read(Scope.of(MODELS)) as work:
            where = "" if name is None else " AND model = ?"
            rows = work.query(
                f"SELECT {_COLUMNS} FROM mlops_models WHERE tenant_id = ?{where} ORDER BY model, version",
                (work.scope.tenant,) if name is None else (work.scope.tenant, name),
            )
            aliases = self._aliases_in(work, name)
        return [_version(row, aliases.get((str(row[0]), int(row[1])), ())) for row in rows]

    def version(self, model: str, version: int | str) -> ModelVersion:
        """One version, by number or by alias (``champion``)."""
        name = check_model(model)
        with self.runtime.read(Scope.of(MODELS)) as work:
            if isinstance(version, str) and not version.isdigit():
                number = work.scalar(
                    "SELECT version FROM mlops_aliases WHERE tenant_id = ? AND model = ? AND alias = ?",
                    (work.scope.tenant, name, check_name(version, field="alias")),
                )
                if number is None:
                    raise NotFound(f"model {name!r} has no alias {version!r}; move one with mlops models alias")
                return self._version_in(work, name, int(number))
            return self._version_in(work, name, bounded_int(int(version), field="version", minimum=1))

    def artifact(self, model: str, version: int | str) -> bytes:
        """The artifact's bytes (a frozen one must be restored first; the error says how)."""
        found = self.version(model, version)
        try:
            return self.objects.read(found.artifact)
        except RuleViolation as exc:
            raise RuleViolation(
                f"{found.model} v{found.version}: {exc}; from the shell: datastrata mlops models restore "
                f"{found.model} {found.version} --tier standard",
                field="version",
            ) from None

    def archive_status(self, model: str | None = None) -> list[dict[str, Any]]:
        """Where each version's artifact is: its storage class, tier, whether readable now, any restore."""
        policy = shipped_policy()
        by_class = {policy.storage_class(t): t.value for t in policy.classes}
        now = self.runtime.clock()
        out = []
        for v in self.versions(model):
            info = self.objects.info(v.artifact)
            out.append(
                {
                    "model": v.model,
                    "version": v.version,
                    "stage": v.stage,
                    "aliases": list(v.aliases),
                    "storage_class": info.storage_class,
                    "tier": by_class.get(info.storage_class, "hot"),
                    "readable": info.readable(now),
                    "restore": None if info.restore is None else info.restore.to_dict(),
                }
            )
        return out

    # ---- helpers ---------------------------------------------------------------------------------------------

    @staticmethod
    def _scope(name: str) -> Scope:
        return Scope.of(MODELS, name)

    def _reconcile(self) -> None:
        """Set each artifact's sidecar stage to the registry's, for every tenant (a crash may have left one behind)."""
        with self.runtime.read(_PLATFORM) as work:
            rows = work.query("SELECT artifact, stage FROM mlops_models ORDER BY tenant_id, model, version")
        for artifact, stage in rows:
            if self.objects.exists(str(artifact)) and self.objects.info(str(artifact)).stage != str(stage):
                self.objects.set_stage(str(artifact), str(stage))

    def _version_in(self, work: Work, name: str, number: int) -> ModelVersion:
        row = work.one(
            f"SELECT {_COLUMNS} FROM mlops_models WHERE tenant_id = ? AND model = ? AND version = ?",
            (work.scope.tenant, name, number),
        )
        if row is None:
            raise NotFound(f"model {name!r} has no version {number}; list them with mlops models list")
        return _version(row, self._aliases_in(work, name).get((name, number), ()))

    @staticmethod
    def _aliases_in(work: Work, name: str | None) -> dict[tuple[str, int], tuple[str, ...]]:
        rows = work.query(
            "SELECT model, version, alias FROM mlops_aliases WHERE tenant_id = ?"
            + ("" if name is None else " AND model = ?")
            + " ORDER BY alias",
            (work.scope.tenant,) if name is None else (work.scope.tenant, name),
        )
        found: dict[tuple[str, int], tuple[str, ...]] = {}
        for model, version, alias in rows:
            found[(str(model), int(version))] = (*found.get((str(model), int(version)), ()), str(alias))
        return found


def _version(row: Sequence[Any], aliases: tuple[str, ...]) -> ModelVersion:
    return ModelVersion(
        str(row[0]),
        int(row[1]),
        str(row[2]),
        str(row[3]),
        int(row[4]),
        str(row[5]),
        json.loads(str(row[6])),
        time_from_db(row[7]),
        time_from_db(row[8]),
        aliases,
    )
