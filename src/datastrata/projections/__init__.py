"""Projections: read models fed from the event log, checkpointed in the same transaction as their change."""

from datastrata.eventlog.checkpoints import Checkpoints, Lag
from datastrata.projections.follower import LogFollower
from datastrata.projections.projection import Projection
from datastrata.projections.runner import ProjectionRunner

__all__ = ["Checkpoints", "Lag", "LogFollower", "Projection", "ProjectionRunner"]
