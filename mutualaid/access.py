"""Who may see and do what in the console: its roles and, for each page and action, the
roles allowed. The server checks every request against `ALLOWED`; the pages only hide
what a role may not use, they decide nothing.

>>> may(ConsoleRole.PUBLIC, Page.PUBLICITY), may(ConsoleRole.PUBLIC, Page.PIPELINE)
(True, False)
>>> may(ConsoleRole.MEMBER, Page.OBJECT), may(ConsoleRole.OPERATOR, Page.REVIEW)
(True, False)
"""

from __future__ import annotations

from enum import StrEnum


class ConsoleRole(StrEnum):
    PUBLIC = "public"  # nobody signed in
    MEMBER = "member"  # a member: their own page, objections
    REVIEWER = "reviewer"  # platform staff: the pipeline, claims, review and decision
    INVESTIGATOR = "investigator"  # the investigation firm's agent: the pipeline, findings
    OPERATOR = "operator"  # runs the program: pipeline, claims, periods, metrics; no steps


# Roles a console user can be given (`mutualaid users add`); public is nobody signed in.
USER_ROLES = frozenset(
    {ConsoleRole.MEMBER, ConsoleRole.REVIEWER, ConsoleRole.INVESTIGATOR, ConsoleRole.OPERATOR}
)
STAFF = frozenset({ConsoleRole.REVIEWER, ConsoleRole.INVESTIGATOR, ConsoleRole.OPERATOR})


class Page(StrEnum):
    """Every page and action of the console, as the access rule names it."""

    PUBLICITY = "publicity"
    OBJECT = "object"
    OWN_MEMBER_PAGE = "own member page"
    PIPELINE = "pipeline"
    CLAIM = "claim"
    REVIEW = "review"
    INVESTIGATION = "investigation"
    DECISION = "decision"
    PERIODS = "periods"
    METRICS = "metrics"


ALLOWED: dict[Page, frozenset[ConsoleRole]] = {
    Page.PUBLICITY: frozenset(ConsoleRole),
    # Only a member objects, as themselves (DOMAIN: members may object in the window).
    Page.OBJECT: frozenset({ConsoleRole.MEMBER}),
    Page.OWN_MEMBER_PAGE: frozenset({ConsoleRole.MEMBER}),
    Page.PIPELINE: STAFF,
    Page.CLAIM: STAFF,
    Page.REVIEW: frozenset({ConsoleRole.REVIEWER}),
    Page.INVESTIGATION: frozenset({ConsoleRole.INVESTIGATOR}),
    Page.DECISION: frozenset({ConsoleRole.REVIEWER}),
    Page.PERIODS: frozenset({ConsoleRole.REVIEWER, ConsoleRole.OPERATOR}),
    Page.METRICS: frozenset({ConsoleRole.OPERATOR}),
}


def may(role: ConsoleRole, page: Page) -> bool:
    return role in ALLOWED[page]
