"""All SQL lives here. Repositories take a Session and never commit: the caller owns the
transaction (`infra.db.unit_of_work`). Every write that a retried activity may repeat is
idempotent: the same write twice leaves one row; a conflicting write raises."""

from infra.repositories.actors import ActorRepository, RegisteredActor
from infra.repositories.claims import ClaimRepository, DuplicateClaimError, NewClaim
from infra.repositories.clock import ProgramClockRepository
from infra.repositories.jury import JuryRepository, Tally
from infra.repositories.members import MemberChangeRepository
from infra.repositories.payouts import PayoutRepository
from infra.repositories.periods import (
    ObjectionRepository,
    PeriodRepository,
    PublicityEntry,
    PublicityRepository,
)
from infra.repositories.plans import PlanRepository
from infra.repositories.settlement import DebitRunRepository, ShardTotals
from infra.repositories.users import ConsoleUser, ConsoleUserRepository

__all__ = [
    "ActorRepository",
    "ClaimRepository",
    "ConsoleUser",
    "ConsoleUserRepository",
    "DebitRunRepository",
    "DuplicateClaimError",
    "JuryRepository",
    "MemberChangeRepository",
    "NewClaim",
    "ObjectionRepository",
    "PayoutRepository",
    "PeriodRepository",
    "PlanRepository",
    "ProgramClockRepository",
    "PublicityEntry",
    "PublicityRepository",
    "RegisteredActor",
    "ShardTotals",
    "Tally",
]
