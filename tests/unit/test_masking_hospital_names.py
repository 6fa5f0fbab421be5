"""A hospital on a public list keeps its whole name, in English and in Chinese, and loses its
department, ward, room, bed and doctor (issue 8, point 14: "Fudan University Shanghai
Cancer Center, ward 8" was cut to "Fudan")."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mutualaid.masking import mask_hospital

PROPERTY = settings(max_examples=200, deadline=None)

ENGLISH = (
    "Fudan University Shanghai Cancer Center",
    "Ruijin Hospital",
    "Peking Union Medical College Hospital",
    "Sun Yat-sen University Cancer Center",
    "West China Hospital of Sichuan University",
    "Zhejiang Cancer Hospital",
    "St. Mary's Hospital",
    "Mayo Clinic",
    "Guy's Medical Centre",
    "Royal Infirmary of Edinburgh",
)
CHINESE = (
    "复旦大学附属肿瘤医院",
    "上海交通大学医学院附属瑞金医院",
    "北京协和医院",
    "中国医学科学院肿瘤医院",
    "中山大学肿瘤防治中心",
    "武汉市中心医院",
    "某某镇卫生院",
    "北京市海淀区妇幼保健院",
)


@pytest.mark.parametrize(
    ("detail", "hospital"),
    [
        (
            "Fudan University Shanghai Cancer Center, ward 8",
            "Fudan University Shanghai Cancer Center",
        ),
        ("Ruijin Hospital, Department of Oncology, bed 12", "Ruijin Hospital"),
        ("复旦大学附属肿瘤医院 肿瘤科 8病区 12床", "复旦大学附属肿瘤医院"),
        ("复旦大学附属肿瘤医院肿瘤科8病区12床", "复旦大学附属肿瘤医院"),
        (
            "Sun Yat-sen University Cancer Center, building 2, room 301",
            "Sun Yat-sen University Cancer Center",
        ),
        (
            "West China Hospital of Sichuan University, thoracic surgery",
            "West China Hospital of Sichuan University",
        ),
        ("Zhejiang Cancer Hospital, internal medicine 2", "Zhejiang Cancer Hospital"),
        ("Department of Oncology, Ruijin Hospital", "Ruijin Hospital"),
        ("Oncology Department of Ruijin Hospital, bed 3", "Ruijin Hospital"),
        ("Ruijin Hospital Oncology Ward 3 Bed 12", "Ruijin Hospital"),
        ("Dr. Wang, Ruijin Hospital, room 5", "Ruijin Hospital"),
        ("City Hospital 肿瘤科 3病区 12床", "City Hospital"),
        ("上海交通大学医学院附属瑞金医院，肿瘤科，12床", "上海交通大学医学院附属瑞金医院"),
        ("中国医学科学院肿瘤医院 内科 主治医生王某", "中国医学科学院肿瘤医院"),
    ],
)
def test_the_whole_hospital_name_is_kept_without_department_ward_room_or_bed(
    detail: str, hospital: str
) -> None:
    assert mask_hospital(detail) == hospital


def _number() -> st.SearchStrategy[str]:
    return st.integers(min_value=1, max_value=999).map(str)


ENGLISH_DETAILS = st.sampled_from(
    [
        "Department of Oncology",
        "Oncology Ward {n}",
        "ward {n}",
        "Ward {n}",
        "bed {n}",
        "Bed {n}",
        "room {n}",
        "Room {n}",
        "building {n}",
        "floor {n}",
        "Dr. Li",
        "ICU bed {n}",
    ]
)
CHINESE_DETAILS = st.sampled_from(
    ["肿瘤科", "胸外科", "{n}病区", "{n}床", "{n}病房", "{n}室", "{n}楼", "主治医生王某"]
)


@PROPERTY
@given(
    st.sampled_from(ENGLISH),
    st.lists(st.tuples(ENGLISH_DETAILS, _number()), min_size=1, max_size=4),
    st.sampled_from([", ", "; ", " / ", ",", " "]),
)
def test_an_english_name_survives_any_department_ward_room_or_bed(
    hospital: str, details: list[tuple[str, str]], separator: str
) -> None:
    tail = separator.join(detail.format(n=n) for detail, n in details)
    assert mask_hospital(f"{hospital}{separator}{tail}") == hospital


@PROPERTY
@given(
    st.sampled_from(CHINESE),
    st.lists(st.tuples(CHINESE_DETAILS, _number()), min_size=1, max_size=4),
    st.sampled_from(["", " ", "，", "、", "/", "；"]),
)
def test_a_chinese_name_survives_any_department_ward_room_or_bed(
    hospital: str, details: list[tuple[str, str]], separator: str
) -> None:
    tail = separator.join(detail.format(n=n) for detail, n in details)
    assert mask_hospital(f"{hospital}{separator}{tail}") == hospital


@PROPERTY
@given(st.text(max_size=60))
def test_masking_only_ever_drops_text_and_is_stable(detail: str) -> None:
    masked = mask_hospital(detail)
    assert masked == "*" or masked in " ".join(detail.split())
    assert mask_hospital(masked) == masked
