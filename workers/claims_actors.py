"""Who acts on a claim, as the claim's messages name them: its applicant, a member, and staff
as the actors registry holds them (with their own family when they are members too)."""

from __future__ import annotations

import dataclasses

from infra.config import load_settings
from infra.db import reading, unit_of_work
from infra.repositories import ActorRepository
from messages import claims as msg
from mutualaid.claim_roles import Actor, Role, family_of
from mutualaid.errors import InputError
from settlement.members import current_member
from simulation import actors as people
from workers.claims_client import database, member_id_of, staff_name


def applicant(status: msg.ClaimStatus) -> Actor:
    """The member whose claim it is."""
    return people.applicant(status.member_id)


def member(member_id: int) -> Actor:
    """A member acting for themselves (an objector), by a checked member id."""
    return people.member(member_id_of(member_id, "member"))


def registered(name: str, role: Role) -> Actor:
    """The staff login as the actors registry holds it, before anything is sent: an unknown
    login is refused here, one line. The role sent is the registry's, not the option's, so
    a login registered in another role is refused by the claim's own validator ("an
    investigator cannot decide"), and the workflow checks the registry again before the step
    moves the claim (a client other than this command can send any name)."""
    login = staff_name(name, role.value)
    settings = load_settings()
    with database(settings) as engine, reading(engine) as session:
        found = ActorRepository(session).resolve(login, field=role.value, wanted=role)
    return Actor(role=found.role, name=found.name)


def with_family(staff: Actor, member_id: int | None, plan_id: str) -> Actor:
    """Staff, with their own family when they are members too (conflict checks)."""
    if member_id is None:
        return staff
    settings = load_settings()
    with database(settings) as engine, unit_of_work(engine) as session:
        found = current_member(
            settings.store_root, session, plan_id, member_id_of(member_id, "member")
        )
    if found is None:
        raise InputError(
            f"{staff.role.value}-member", member_id, f"is not a member of plan {plan_id}"
        )
    return dataclasses.replace(staff, member_id=member_id, family_id=family_of(found))
