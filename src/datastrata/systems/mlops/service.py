"""The ML pipeline's service: the feature store, the model registry and inference capture on one runtime."""

from __future__ import annotations

from datastrata.runtime import Runtime
from datastrata.runtime.jobs import Job, Work, jobs_of
from datastrata.systems.mlops.capture import InferenceCapture
from datastrata.systems.mlops.features import FeatureStore
from datastrata.systems.mlops.online import online_store
from datastrata.systems.mlops.registry import ModelRegistry
from datastrata.systems.mlops.schema import MIGRATIONS
from datastrata.tiering.objects import ObjectStore
from datastrata.writes.commands import CommandHandler

#: Job kinds the pipeline records (``datastrata jobs list``; ``GET /jobs/{id}``).
MATERIALIZE = "mlops.materialize"
ARCHIVE = "mlops.archive"


class MlopsService:
    """Features (offline → online, training sets), models (versions, stages, aliases, archive) and inference."""

    def __init__(self, runtime: Runtime) -> None:
        runtime.ensure(MIGRATIONS)
        self.runtime = runtime
        self.commands = CommandHandler(runtime)
        self.objects = ObjectStore(runtime.settings.objects, clock=runtime.clock)
        self.features = FeatureStore(runtime, self.commands, self.objects, online_store(runtime.cache))
        self.models = ModelRegistry(runtime, self.commands, self.objects)
        self.inference = InferenceCapture(runtime, self.commands, self.objects, self.models, self.features)

    def materialize_work(self, view: str | None = None) -> Work:
        """Materialisation as job work: parts not yet in the online store, one per progress step."""
        if view is not None:
            self.features.view(view)  # refuse an unknown view before a job is recorded
        return lambda report: self.features.materialize(view, report)

    def archive_work(self) -> Work:
        """The shipped tiering policy's run as job work."""
        return lambda report: self.models.archive(progress=report)

    def materialize_job(self, view: str | None = None) -> Job:
        """Run materialisation now as a recorded job (the CLI's way); the job carries the result."""
        work = self.materialize_work(view)
        jobs = jobs_of(self.runtime)
        return jobs.run(jobs.create(MATERIALIZE, view or "*"), work, reraise=True)

    def archive_job(self) -> Job:
        """Run the tiering policy now as a recorded job."""
        jobs = jobs_of(self.runtime)
        return jobs.run(jobs.create(ARCHIVE, "mlops"), self.archive_work(), reraise=True)
