"""The custom search attributes that claim and period workflows keep current.

Operators query them in the Web UI and with `temporal workflow list --query`. They are stored
in clear, so no personal data goes in (a member id, never a name). The dev server's SQL
visibility allows at most 10 Keyword and 3 of each other type.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CLAIM_STATE = SearchAttributeKey.for_keyword("ClaimState")
PLAN_ID = SearchAttributeKey.for_keyword("PlanId")
PERIOD_ID = SearchAttributeKey.for_keyword("PeriodId")
MEMBER_ID = SearchAttributeKey.for_keyword("MemberId")
PERIOD_STATE = SearchAttributeKey.for_keyword("PeriodState")
BENEFIT_FEN = SearchAttributeKey.for_int("BenefitFen")
OVERDUE = SearchAttributeKey.for_bool("Overdue")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("NextDeadline")

ALL = (
    CLAIM_STATE,
    PLAN_ID,
    PERIOD_ID,
    MEMBER_ID,
    PERIOD_STATE,
    BENEFIT_FEN,
    OVERDUE,
    NEXT_DEADLINE,
)

# Name -> indexed value type, for registering with a server through the operator API.
INDEXED_TYPES: dict[str, int] = {key.name: int(key.indexed_value_type) for key in ALL}

# Name -> type as the Temporal CLI spells it, for `temporal server start-dev`.
REGISTRATION: dict[str, str] = {
    key.name: {
        "KEYWORD": "Keyword",
        "INT": "Int",
        "BOOL": "Bool",
        "DATETIME": "Datetime",
    }[key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")]
    for key in ALL
}
