"""The 2025 reform as data: 63 former provinces into 34, names in any spelling, levels."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.admin import (
    AdminDataError,
    Level,
    UnitType,
    current_province,
    is_current_level,
    load_provinces,
    normalize_level,
    province_filter,
    province_key,
    provinces_merged_into,
)

# Nghị quyết 202/2025/QH15, Article 1: the 23 new units and what they were formed from.
MERGERS = {
    "Tuyên Quang": {"Hà Giang", "Tuyên Quang"},
    "Lào Cai": {"Yên Bái", "Lào Cai"},
    "Thái Nguyên": {"Bắc Kạn", "Thái Nguyên"},
    "Phú Thọ": {"Vĩnh Phúc", "Hòa Bình", "Phú Thọ"},
    "Bắc Ninh": {"Bắc Giang", "Bắc Ninh"},
    "Hưng Yên": {"Thái Bình", "Hưng Yên"},
    "Hải Phòng": {"Hải Dương", "Hải Phòng"},
    "Ninh Bình": {"Hà Nam", "Ninh Bình", "Nam Định"},
    "Quảng Trị": {"Quảng Bình", "Quảng Trị"},
    "Đà Nẵng": {"Quảng Nam", "Đà Nẵng"},
    "Quảng Ngãi": {"Kon Tum", "Quảng Ngãi"},
    "Gia Lai": {"Gia Lai", "Bình Định"},
    "Khánh Hòa": {"Ninh Thuận", "Khánh Hòa"},
    "Lâm Đồng": {"Lâm Đồng", "Đắk Nông", "Bình Thuận"},
    "Đắk Lắk": {"Đắk Lắk", "Phú Yên"},
    "Hồ Chí Minh": {"Hồ Chí Minh", "Bình Dương", "Bà Rịa - Vũng Tàu"},
    "Đồng Nai": {"Bình Phước", "Đồng Nai"},
    "Tây Ninh": {"Long An", "Tây Ninh"},
    "Cần Thơ": {"Cần Thơ", "Sóc Trăng", "Hậu Giang"},
    "Vĩnh Long": {"Bến Tre", "Vĩnh Long", "Trà Vinh"},
    "Đồng Tháp": {"Tiền Giang", "Đồng Tháp"},
    "Cà Mau": {"Bạc Liêu", "Cà Mau"},
    "An Giang": {"An Giang", "Kiên Giang"},
}
UNCHANGED = {"Hà Nội", "Huế", "Cao Bằng", "Điện Biên", "Hà Tĩnh", "Lai Châu", "Lạng Sơn", "Nghệ An", "Quảng Ninh",
             "Thanh Hóa", "Sơn La"}
CITIES = {"Hà Nội", "Hồ Chí Minh", "Hải Phòng", "Đà Nẵng", "Huế", "Cần Thơ"}


def test_63_former_units_make_34_current_ones() -> None:
    data = load_provinces()
    assert len(data.current) == 34 and len(data.former) == 63 == len(set(data.former))
    assert {u.name for u in data.current if u.type is UnitType.CITY} == CITIES
    assert {u.name for u in data.current if not u.merged} == UNCHANGED
    assert {u.name: set(u.formed_from) for u in data.current if u.merged} == MERGERS


@pytest.mark.parametrize(("old", "new"), [(old, new) for new, olds in MERGERS.items() for old in olds]
                         + [(name, name) for name in UNCHANGED])
def test_every_former_unit_is_in_its_current_province(old: str, new: str) -> None:
    assert current_province(old) == new


@pytest.mark.parametrize(("spelling", "new"), [
    ("Tỉnh Phú Yên", "Đắk Lắk"), ("phu yen", "Đắk Lắk"), ("PHÚ YÊN", "Đắk Lắk"), ("Đắc Lắc", "Đắk Lắk"),
    ("Tỉnh Đăk Nông", "Lâm Đồng"), ("Thành phố Hồ Chí Minh", "Hồ Chí Minh"), ("TP. Hồ Chí Minh", "Hồ Chí Minh"),
    ("TP.HCM", "Hồ Chí Minh"), ("TPHCM", "Hồ Chí Minh"), ("Bà Rịa–Vũng Tàu", "Hồ Chí Minh"),
    ("Tỉnh Bà Rịa - Vũng Tàu", "Hồ Chí Minh"), ("BR-VT", "Hồ Chí Minh"), ("Thừa Thiên Huế", "Huế"),
    ("Tỉnh Thừa Thiên - Huế", "Huế"), ("Thủ đô Hà Nội", "Hà Nội"), ("Hoà Bình", "Phú Thọ"), ("Bắc Cạn", "Thái Nguyên"),
    ("Kontum", "Quảng Ngãi"), ("Thành phố Cần Thơ", "Cần Thơ"), ("thanh hoa", "Thanh Hóa"),
])
def test_names_are_read_with_or_without_prefix_diacritics_and_old_spellings(spelling: str, new: str) -> None:
    assert current_province(spelling) == new


@pytest.mark.parametrize("name", ["", None, "Tỉnh", "Thành phố", "Sài Gòn Giải Phóng", "Phú", "Kiên"])
def test_a_name_that_is_no_province_has_no_current_province(name: str | None) -> None:
    assert current_province(name) is None


def test_a_filter_for_a_merged_province_includes_the_former_ones() -> None:
    assert set(province_filter("Đắk Lắk")) == {"Đắk Lắk", "Phú Yên"}
    assert set(province_filter("tinh dak lak")) == {"Đắk Lắk", "Phú Yên"}
    assert set(province_filter("TP.HCM")) == {"Hồ Chí Minh", "Bình Dương", "Bà Rịa - Vũng Tàu"}
    assert province_filter("Phú Yên") == ("Phú Yên",)  # a former unit alone
    assert province_filter("Hà Nội") == ("Hà Nội",)
    assert province_filter("Atlantis") == ("Atlantis",)
    assert provinces_merged_into("Lâm Đồng") == ("Lâm Đồng", "Đắk Nông", "Bình Thuận")
    assert provinces_merged_into("Phú Yên") == ()


def test_keys_compare_spellings_of_one_unit_equal() -> None:
    assert province_key("TP.HCM") == province_key("Thành phố Hồ Chí Minh") == province_key("ho chi minh")
    assert province_key("Thừa Thiên Huế") == province_key("Huế")
    assert province_key("Phú Yên") != province_key("Đắk Lắk")
    data = load_provinces()
    stored = ["Tỉnh Phú Yên", "Đắk Lắk", "Dak Lak", "Khánh Hòa", "Đắc Lắc"]
    keys = data.filter_keys("Đắk Lắk")
    assert [s for s in stored if province_key(s) in keys] == ["Tỉnh Phú Yên", "Đắk Lắk", "Dak Lak", "Đắc Lắc"]


def test_full_names_carry_the_kind_of_unit() -> None:
    data = load_provinces()
    by_name = {u.name: u for u in data.current}
    assert by_name["Đắk Lắk"].full_name == "Tỉnh Đắk Lắk"
    assert by_name["Hồ Chí Minh"].full_name == "Thành phố Hồ Chí Minh"


@pytest.mark.parametrize(("content", "message"), [
    ("provinces:\n  - {name: A Lo, type: town, formed_from: [A Lo]}\naliases: {}\n", "provinces/0/type"),
    ("provinces:\n  - {name: A Lo, type: province, formed_from: [B Lo]}\n"
     "  - {name: C Lo, type: province, formed_from: [B Lo]}\naliases: {}\n", "'B Lo' is listed in two"),
    ("provinces:\n  - {name: A Lo, type: province, formed_from: [A Lo]}\naliases: {X Y: Z Z}\n", "no province"),
    ("provinces:\n  - {name: Ấ Lo, type: province, formed_from: [A Lo]}\naliases: {}\n", "reads the same as"),
])
def test_a_bad_provinces_file_is_refused_with_its_name(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "provinces.yaml"
    path.write_text(content, "utf-8")
    with pytest.raises(AdminDataError) as info:
        load_provinces(path)
    assert message in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(("value", "level"), [
    ("province", Level.PROVINCE), ("district", Level.DISTRICT), ("commune", Level.COMMUNE),
    ("department", Level.DEPARTMENT), ("Huyện", Level.DISTRICT), ("quận", Level.DISTRICT), ("Thị xã", Level.DISTRICT),
    ("thành phố thuộc tỉnh", Level.DISTRICT), ("Tỉnh", Level.PROVINCE), ("thành phố trực thuộc Trung ương", Level.PROVINCE),
    ("Xã", Level.COMMUNE), ("phường", Level.COMMUNE), ("Đặc khu", Level.COMMUNE), ("Sở", Level.DEPARTMENT),
    ("Thành phố", None), ("", None), (None, None), ("bogus", None),
])
def test_levels_are_read_from_the_registry_and_from_vietnamese(value: str | None, level: Level | None) -> None:
    assert normalize_level(value) is level


def test_district_stays_valid_but_is_no_current_level() -> None:
    assert Level("district") is Level.DISTRICT
    assert not is_current_level(Level.DISTRICT)
    assert all(is_current_level(lv) for lv in (Level.PROVINCE, Level.COMMUNE, Level.DEPARTMENT))
