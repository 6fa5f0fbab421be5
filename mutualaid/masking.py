"""Masking of personal data for public lists (publicity lists, reports, search attributes).

>>> mask_name("张三丰"), mask_id_number("110101199003071234")
('张**', '110*************34')
>>> mask_hospital("北京协和医院 肿瘤科 3病区 12床")
'北京协和医院'
"""

from __future__ import annotations

import re

# A hospital's name ends at the first of these; ward, department and bed come after.
_HOSPITAL_ENDINGS = re.compile(
    # 中心医院 before 中心: "武汉市中心医院" is a hospital, not "武汉市中心".
    r"(中心医院|医院|卫生院|中心|hospital|medical cent(?:er|re)|clinic)",
    re.IGNORECASE,
)


def mask_name(name: str) -> str:
    """Keep the first character of each word (the surname in Chinese); mask the rest."""
    words = name.split()
    if not words:
        return "*"
    return " ".join(w[0] + "*" * max(1, len(w) - 1) for w in words)


def mask_id_number(id_number: str) -> str:
    """Keep the first three and the last two characters: enough to tell two cases apart in a
    list, never the birth date."""
    text = id_number.strip()
    if len(text) <= 5:
        return "*" * max(len(text), 1)
    return text[:3] + "*" * (len(text) - 5) + text[-2:]


def mask_hospital(detail: str) -> str:
    """The hospital's name without department, ward, bed or doctor."""
    text = " ".join(detail.split())
    match = _HOSPITAL_ENDINGS.search(text)
    if match is not None:
        return text[: match.end()]
    # No recognisable ending: keep the first part only, before any separator.
    return re.split(r"[,，;；/ ]", text, maxsplit=1)[0] or "*"
