"""Masking of personal data for public lists (publicity lists, reports, search attributes).

>>> mask_name("张三丰"), mask_id_number("110101199003071234")
('张**', '110*************34')
>>> mask_hospital("北京协和医院 肿瘤科 3病区 12床")
'北京协和医院'
>>> mask_hospital("Fudan University Shanghai Cancer Center, ward 8")
'Fudan University Shanghai Cancer Center'
"""

from __future__ import annotations

import re

# The parts of a hospital detail: department, ward, room, bed and doctor are usually set off
# by these (English or Chinese punctuation); a space separates parts in Chinese text only,
# since English names are made of words.
_SEPARATORS = re.compile(r"[,，;；/|、()（）]+")
_CJK = re.compile(r"[\u3400-\u9fff]")

# Chinese: the name ends with the first of these; what follows is department, ward, bed.
# 中心医院 before 中心: "武汉市中心医院" is a hospital, not "武汉市中心".
_CJK_ENDINGS = re.compile(r"中心医院|妇幼保健院|保健院|卫生院|医院|诊所|中心")
# Chinese ward, room, bed, floor and doctor markers, with the number before them.
_CJK_MARKERS = re.compile(
    r"[0-9０-９一二三四五六七八九十百零〇]*(?:病区|病房|病床|床|室|楼|层|号|门诊|住院部|主治|医生|大夫)"
)

# English: a part naming the hospital holds one of these words...
_HOSPITAL_WORDS = re.compile(
    r"\b(?:hospital|cent(?:er|re)|clinic|infirmary|institute|sanatorium|hospice)s?\b",
    re.IGNORECASE,
)
# ...and ends before the first of these (a department, ward, room, bed, floor or doctor).
_MARKERS = re.compile(
    r"\b(?:departments?|dept|division|section|wards?|rooms?|rm|beds?|floors?|fl|"
    r"buildings?|bldg|units?|wings?|dr|doctor|prof|professor|attending)\b\.?|#\s*\d|"
    # A Chinese word after an English name: "City Hospital 肿瘤科 3病区".
    r"\bno\.\s*\d|\s(?=[\u3400-\u9fff])",
    re.IGNORECASE,
)
# What may stand between a department and the hospital it belongs to.
_LEADING_FILLER = re.compile(r"^(?:[\s\d.#-]|\b(?:of|at|in)\b)+", re.IGNORECASE)
# Specialties named just before a marker ("Oncology Ward 3") belong to the department.
_SPECIALTIES = re.compile(
    r"(?:\s+(?:oncology|cardiology|ha?ematology|neurology|nephrology|urology|radiology|"
    r"gastroenterology|gyn(?:a)?ecology|obstetrics|p(?:a)?ediatrics|respiratory|thoracic|"
    r"surgical|surgery|internal|medicine|intensive|care|emergency|outpatient|inpatient|"
    r"icu|ccu|nicu|picu))+$",
    re.IGNORECASE,
)
_TRIM = " -–—:·.#"


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
    """The hospital's whole name, without department, ward, room, bed or doctor.

    The part that names a hospital (a Chinese ending such as 医院 or 中心, an English word
    such as Hospital, Center or Clinic) is kept, up to its ending in Chinese and up to the
    first department, ward, room, bed or doctor word in English; with no such part, the
    first part that is not a ward or bed. Nothing recognisable: a star.

    >>> mask_hospital("Ruijin Hospital, Department of Oncology, bed 12")
    'Ruijin Hospital'
    >>> mask_hospital("复旦大学附属肿瘤医院 肿瘤科 8病区 12床")
    '复旦大学附属肿瘤医院'
    """
    text = " ".join(detail.split())
    parts = [part.strip(_TRIM) for part in _SEPARATORS.split(text)]
    for part in parts:
        name = _named_hospital(part)
        if name:
            return name
    for part in parts:
        name = _first_words(part)
        if name:
            return name
    return "*"


def _named_hospital(part: str) -> str:
    """The hospital's name in a part that holds a hospital ending or word; "" otherwise."""
    ending = _CJK_ENDINGS.search(part)
    if ending is not None:
        return part[: ending.end()].strip(_TRIM)
    rest = part
    while _HOSPITAL_WORDS.search(rest) is not None:
        name = _before_markers(rest)
        if _HOSPITAL_WORDS.search(name):
            return name
        # "Oncology Department of Ruijin Hospital": the name follows the department.
        marker = _MARKERS.search(rest)
        if marker is None:
            break
        rest = _LEADING_FILLER.sub("", rest[marker.end() :])
    return ""


def _first_words(part: str) -> str:
    """A part without a recognisable ending: its words before any ward, bed or doctor (in
    Chinese, its first word only: the department follows after a space)."""
    if _CJK.search(part):
        part = part.split(" ", 1)[0]
        marker = _CJK_MARKERS.search(part)
        part = part[: marker.start()] if marker else part
    return _before_markers(part)


def _before_markers(part: str) -> str:
    marker = _MARKERS.search(part)
    if marker is None:
        return part.strip(_TRIM)
    return _SPECIALTIES.sub("", part[: marker.start()].strip(_TRIM)).strip(_TRIM)
