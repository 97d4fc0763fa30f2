"""Phone input and line-type rules, checked against phonenumbers' own example data."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from verifier import Policy, parse_phone
from verifier.errors import CountryNotAllowed, InvalidPhoneNumber, UnsupportedNumberType
from verifier.phone import TYPE_NAMES, check_policy

NUMBERS = Policy.default().numbers
REFUSED = [
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.VOIP,
    PhoneNumberType.PAGER,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
]


def e164(number) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@pytest.mark.parametrize(
    ("phone", "country", "expected"),
    [
        ("090-1234-5678", "JP", "+819012345678"),
        ("+81 90 1234 5678", None, "+819012345678"),
        ("+81 90 1234 5678", "US", "+819012345678"),
        ("(415) 555-2671", "us", "+14155552671"),
        ("07400 123456", "GB", "+447400123456"),
    ],
)
def test_national_and_e164_forms_normalise(phone, country, expected):
    assert parse_phone(phone, country).e164 == expected


@pytest.mark.parametrize(
    ("phone", "country", "fragment"),
    [
        ("090-1234-5678", None, "country is required"),
        ("123", "JP", "not a valid number"),
        ("not a number", "JP", "cannot be parsed"),
        ("", "JP", "non-empty"),
        ("9" * 65, "JP", "longer than"),
        ("090-1234-5678", "XX", "unknown country"),
        ("090-1234-5678", "Japan", "ISO 3166"),
        (12345, "JP", "non-empty string"),
    ],
)
def test_invalid_input_is_refused_before_anything_is_sent(phone, country, fragment):
    with pytest.raises(InvalidPhoneNumber, match=fragment):
        parse_phone(phone, country)


def test_japanese_voip_and_pager_ranges_are_refused_by_type():
    for phone, kind in (("050-1234-5678", "VOIP"), ("020-4123-4567", "PAGER")):
        info = parse_phone(phone, "JP")
        assert info.type == kind
        with pytest.raises(UnsupportedNumberType) as err:
            check_policy(info, NUMBERS)
        assert err.value.detail == kind


def test_every_regions_example_mobile_is_accepted():
    """The default policy accepts the example MOBILE number of every supported region."""
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
        if example is None:
            continue
        info = parse_phone(e164(example), None)
        assert info.type in ("MOBILE", "FIXED_LINE_OR_MOBILE"), (region, info)
        national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
        assert parse_phone(national, region).e164 == e164(example), region
        check_policy(info, NUMBERS)
        checked += 1
    assert checked > 200


@pytest.mark.parametrize("kind", REFUSED, ids=lambda k: TYPE_NAMES[k])
def test_every_regions_non_mobile_examples_are_refused(kind):
    """Landline, VoIP, pager, toll-free and premium examples are refused, naming the type."""
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        if phonenumbers.number_type(example) == PhoneNumberType.FIXED_LINE_OR_MOBILE:
            continue  # regions where the ranges overlap cannot tell the line type
        info = parse_phone(e164(example), None)
        with pytest.raises(UnsupportedNumberType) as err:
            check_policy(info, NUMBERS)
        assert err.value.detail == TYPE_NAMES[kind], region
        checked += 1
    assert checked > 0


def test_country_deny_and_allow_lists_apply_to_the_numbers_own_region():
    info = parse_phone("+819012345678", "US")  # typed with another default region
    deny = Policy.default().replace(**{"numbers.denied_countries": ["JP"]}).numbers
    with pytest.raises(CountryNotAllowed):
        check_policy(info, deny)
    allow = Policy.default().replace(**{"numbers.allowed_countries": ["US", "GB"]}).numbers
    with pytest.raises(CountryNotAllowed):
        check_policy(info, allow)
    check_policy(parse_phone("07400 123456", "GB"), allow)


def test_refused_numbers_send_nothing_and_record_the_reason(h):
    with pytest.raises(UnsupportedNumberType):
        h.start(phone="050-1234-5678")
    with pytest.raises(InvalidPhoneNumber):
        h.start(phone="123")
    assert h.sender.messages("+815012345678") == []
    assert [e.reason for e in h.events] == ["unsupported_number_type", "invalid_phone_number"]


def test_one_type_lookup_agrees_with_is_valid_number():
    """The engine reads validity from number_type; check that equals is_valid_number."""
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPE_NAMES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for variant in (example.national_number, example.national_number // 10):
                number = phonenumbers.PhoneNumber(example.country_code, variant)
                valid = phonenumbers.is_valid_number(number)
                typed = phonenumbers.number_type(number) != PhoneNumberType.UNKNOWN
                assert valid == typed, (region, number)
