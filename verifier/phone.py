"""Phone input: country + national or E.164 text -> E.164, region and line type.

Parsing is ``phonenumbers``' job; this module adds the policy questions (may this type
receive SMS, is this country allowed) and keeps the answers for repeated numbers.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from .errors import CountryNotAllowed, InvalidPhoneNumber, UnsupportedNumberType
from .policy import NumbersPolicy

TYPE_NAMES: dict[int, str] = {
    value: name
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}
MAX_PHONE_CHARS = 64
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


class PhoneInfo(NamedTuple):
    """A parsed, valid number: E.164 form, region (ISO 3166 alpha-2) and line type name."""

    e164: str
    region: str
    type: str


@lru_cache(maxsize=4096)
def _parse(phone: str, country: str | None) -> PhoneInfo | str:
    """Parse and classify, returning a reason string when the number is not valid."""
    try:
        number = phonenumbers.parse(phone, country)
    except phonenumbers.NumberParseException as exc:
        return f"cannot be parsed: {exc._msg}"
    # number_type is UNKNOWN exactly when is_valid_number is false (both match the
    # national number against the region's metadata), so one lookup answers both.
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        return "not a valid number" + (f" for {country}" if country else "")
    region = phonenumbers.region_code_for_number(number) or "ZZ"
    # E.164 of a valid number is "+", the country code and the national significant
    # number: what ``format_number(..., E164)`` returns, without its generic dispatch.
    e164 = f"+{number.country_code}{phonenumbers.national_significant_number(number)}"
    return PhoneInfo(e164, region, TYPE_NAMES[kind])


def parse_phone(phone: object, country: object) -> PhoneInfo:
    """Normalise ``phone`` read with ``country`` as default region, or raise ``InvalidPhoneNumber``.

    ``country`` may be ``None`` only when the number is written in E.164 form (``+…``).
    """
    if not isinstance(phone, str) or not phone.strip():
        raise InvalidPhoneNumber("phone must be a non-empty string")
    if len(phone) > MAX_PHONE_CHARS:
        raise InvalidPhoneNumber(f"phone is longer than {MAX_PHONE_CHARS} characters")
    if country is None:
        if not phone.lstrip().startswith("+"):
            raise InvalidPhoneNumber("country is required unless the number starts with +")
    elif not isinstance(country, str) or not _COUNTRY.match(country):
        raise InvalidPhoneNumber("country must be an ISO 3166 alpha-2 code such as JP")
    else:
        country = country.upper()
        if country not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidPhoneNumber(f"unknown country {country}")
    result = _parse(phone, country)
    if isinstance(result, str):
        raise InvalidPhoneNumber(result)
    return result


def check_policy(info: PhoneInfo, numbers: NumbersPolicy) -> None:
    """Raise when the policy refuses this number's country or line type."""
    if info.region in numbers.denied_countries or (
        numbers.allowed_countries and info.region not in numbers.allowed_countries
    ):
        raise CountryNotAllowed(f"numbers from {info.region} are not accepted")
    if info.type not in numbers.allowed_types:
        raise UnsupportedNumberType(info.type)


def prefix_of(e164: str) -> tuple[str, int]:
    """Split an E.164 number into its prefix (all but the last four digits) and that tail."""
    return e164[:-4], int(e164[-4:])


@lru_cache(maxsize=4096)
def mask(e164: str) -> str:
    """The number as a caller without ``admin`` sees it: ``+81 90-****-5678``.

    International format, with every digit hidden except the country code, the first
    group of the national number and the last four digits.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return "+" + "*" * max(0, len(e164) - 5) + e164[-4:]
    text = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    code = f"+{number.country_code}"
    national = text[len(code) :]
    first_group = re.match(r"\s*\(?\d+\)?", national)
    keep_head = len(code) + (first_group.end() if first_group else 0)
    digits_left = 4
    out = list(text)
    for i in range(len(out) - 1, keep_head - 1, -1):
        if out[i].isdigit():
            if digits_left > 0:
                digits_left -= 1
            else:
                out[i] = "*"
    return "".join(out)
