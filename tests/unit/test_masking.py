"""Masking personal data for public lists: names, ID numbers, hospital details."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mutualaid.masking import mask_hospital, mask_id_number, mask_name

PROPERTY = settings(max_examples=50, deadline=None)


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三丰", "张**"),
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("李", "李*"),  # one character: still a star, so the length hides nothing extra
        ("John Smith", "J*** S****"),
        ("  Anna   Lee ", "A*** L**"),
        ("Ng", "N*"),
        ("J", "J*"),
        ("Mary-Jane O'Neil", "M******** O*****"),
    ],
)
def test_mask_name_keeps_the_first_character_of_each_word(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_mask_name_of_an_empty_name_is_a_single_star(name: str) -> None:
    assert mask_name(name) == "*"


@PROPERTY
@given(
    st.lists(
        st.text(min_size=1, max_size=8).filter(lambda w: w.split() == [w]), min_size=1, max_size=4
    )
)
def test_mask_name_reveals_only_first_characters(words: list[str]) -> None:
    masked = mask_name(" ".join(words)).split(" ")
    assert len(masked) == len(words)
    for word, shown in zip(words, masked, strict=True):
        assert shown[0] == word[0]
        assert set(shown[1:]) == {"*"}
        assert len(shown) == max(2, len(word))


# --- ID numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("id_number", "masked"),
    [
        ("110101199003071234", "110*************34"),
        ("11010119900307123X", "110*************3X"),
        (" 110101199003071234 ", "110*************34"),
        ("123456", "123*56"),
        ("12345", "*****"),
        ("12", "**"),
        ("", "*"),
    ],
)
def test_mask_id_number_keeps_three_leading_and_two_trailing_characters(
    id_number: str, masked: str
) -> None:
    assert mask_id_number(id_number) == masked


@PROPERTY
@given(st.integers(min_value=10**16, max_value=10**17 - 1), st.sampled_from("0123456789X"))
def test_mask_id_number_never_shows_the_birth_date(body: int, check: str) -> None:
    id_number = f"{body}{check}"
    masked = mask_id_number(id_number)
    assert len(masked) == 18
    assert masked[:3] == id_number[:3]
    assert masked[-2:] == id_number[-2:]
    # Characters 7 to 14 of a resident ID are the birth date (YYYYMMDD).
    assert masked[3:16] == "*" * 13


# --- hospitals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detail", "hospital"),
    [
        ("北京协和医院 肿瘤科 3病区 12床", "北京协和医院"),
        ("北京协和医院肿瘤科3病区12床", "北京协和医院"),
        ("复旦大学附属肿瘤医院，胸外科，5病区8床", "复旦大学附属肿瘤医院"),
        ("武汉市中心医院 肿瘤科 3病区 12床", "武汉市中心医院"),
        ("天津市第一中心医院 血液科 12床", "天津市第一中心医院"),
        ("中山大学肿瘤防治中心 5病区 8床 主治医生王某", "中山大学肿瘤防治中心"),
        ("某某镇卫生院 内科 2床", "某某镇卫生院"),
        ("北京  协和医院   3病区", "北京 协和医院"),
        (
            "Peking Union Medical College Hospital, Oncology Ward 3, Bed 12",
            ("Peking Union Medical College Hospital"),
        ),
        ("Stanford Medical Center, ward 4, bed 2", "Stanford Medical Center"),
        ("Guy's Medical Centre / ward 9", "Guy's Medical Centre"),
        ("Mayo Clinic room 5", "Mayo Clinic"),
        ("CITY HOSPITAL WARD 3", "CITY HOSPITAL"),
    ],
)
def test_mask_hospital_keeps_the_name_and_drops_department_ward_and_bed(
    detail: str, hospital: str
) -> None:
    assert mask_hospital(detail) == hospital


@pytest.mark.parametrize(
    ("detail", "first_part"),
    [
        ("协和 肿瘤科 3病区 12床", "协和"),
        ("Xiehe, ward 3, bed 12", "Xiehe"),
        ("Xiehe;ward 3", "Xiehe"),
        ("协和，3病区", "协和"),
        ("协和/3病区", "协和"),
    ],
)
def test_mask_hospital_without_a_known_ending_keeps_the_first_part_only(
    detail: str, first_part: str
) -> None:
    assert mask_hospital(detail) == first_part


@pytest.mark.parametrize("detail", ["", "   ", ",3病区"])
def test_mask_hospital_with_nothing_recognisable_is_a_star(detail: str) -> None:
    assert mask_hospital(detail) == "*"


@PROPERTY
@given(
    st.sampled_from(["北京协和医院", "武汉市中心医院", "某某镇卫生院", "City Hospital"]),
    st.integers(min_value=1, max_value=99),
    st.integers(min_value=1, max_value=99),
)
def test_mask_hospital_never_shows_ward_or_bed(hospital: str, ward: int, bed: int) -> None:
    masked = mask_hospital(f"{hospital} 肿瘤科 {ward}病区 {bed}床")
    assert masked == hospital
    assert "床" not in masked
    assert "病区" not in masked
