"""Flagged-address indicators and the definitions every feed carries: the STIX validator, stix2
and our JSON Schemas accept everything we make, and the checks refuse, saying why, what
disagrees with itself or with STIX."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import stix2
import stix2validator
from hypothesis import given, settings
from hypothesis import strategies as st

from feed.addresses import parse_address
from feed.errors import InvalidObject
from feed.indicators import Flag, build_indicator
from feed.stix import (
    EXTENSION_ID,
    TLP_MARKINGS,
    Category,
    build_sighting,
    check_object,
    definitions,
    parse_stix_timestamp,
    stix_timestamp,
)
from feed.versions import Candidate
from tests.test_addresses import GOOD

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
AUTHOR = "identity--0b6d7d0c-3f0e-4c1e-9d64-0c8f2d4b9a11"
NOW = datetime(2026, 11, 22, 12, 0, 0, 123456, tzinfo=UTC)
ETH = parse_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "ETH")


def validator_errors(value: dict[str, Any]) -> list[str]:
    options = stix2validator.ValidationOptions(version="2.1")
    return [str(error) for error in stix2validator.validate_instance(value, options).errors]


def extension_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / "flagged-address-extension.json").read_text())
    return schema


def flag(**changes: Any) -> Flag:
    return Flag(**{"address": ETH, "category": Category.RANSOMWARE, **changes})


def built(value: Flag, previous: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    indicator = build_indicator(value, AUTHOR, kwargs.pop("now", NOW), previous, **kwargs)
    assert indicator is not None
    return indicator


@pytest.mark.parametrize(("chain", "text", "canonical", "kind"), GOOD)
def test_every_chains_indicator_is_valid_stix(
    chain: str, text: str, canonical: str | None, kind: str
) -> None:
    indicator = built(flag(address=parse_address(text, chain), reference="https://example.org/1"))
    assert validator_errors(indicator) == []
    stix2.parse(indicator, allow_custom=True, version="2.1")
    check_object(indicator, AUTHOR)
    jsonschema.validate(indicator["extensions"][EXTENSION_ID], extension_schema())
    assert indicator["pattern"] == f"[cryptocurrency-wallet:value = '{canonical or text}']"


def test_definitions_are_valid_and_match_the_published_file() -> None:
    for value in definitions():
        assert validator_errors(value) == [], value["id"]
    published = json.loads((SCHEMAS / "flagged-address-extension-definition.json").read_text())
    assert published["objects"] == definitions()[:2]
    assert {value["id"] for value in definitions()} >= set(TLP_MARKINGS.values())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"address": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"}, "not canonical"),
        ({"address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"}, "EIP-55"),
        ({"chain": "eip155:1", "category": "gossip"}, "category 'gossip' is unknown"),
        ({"category": ["scam"]}, r"category \['scam'\] is unknown"),
        ({"chain": "bip122:000000000019d6689c085ae165831e93"}, "Bitcoin"),
        ({"chain": "nowhere:1"}, "'nowhere:1' is not the CAIP-2 id of a supported chain"),
        # The schema asks for the CAIP-2 id as it is written, not a name or ticker for it.
        ({"chain": "Ethereum"}, "'Ethereum' is not the CAIP-2 id"),
        ({"chain": "ETH"}, "'ETH' is not the CAIP-2 id"),
        ({"chain": " eip155:1"}, "' eip155:1' is not the CAIP-2 id"),
        ({"chain": "eip155:1\n"}, r"'eip155:1\\n' is not the CAIP-2 id"),
        # What else the extension's schema asks.
        ({"extension_type": "toplevel-property-extension"}, "is not property-extension"),
        ({"colour": "red"}, "has no property 'colour'"),
        ({"asset": "U" * 33}, "extension asset 'UUU.*' is not text of at most 32"),
        ({"source": 5}, "extension source 5 is not text of at most 64"),
        ({"address": " " + ETH.canonical}, "' 0x5aAeb.* is not 26 to 128 letters, digits and"),
        ({"address": "1" * 129}, "'1{56}\\.\\.\\. is not 26 to 128 letters, digits and colons"),
        ({"category": "x" * 10_000}, r"extension category 'x{56}\.\.\. is unknown"),
    ],
)
def test_the_server_refuses_an_extension_that_disagrees(
    change: dict[str, Any], message: str
) -> None:
    indicator = built(flag())
    indicator["extensions"][EXTENSION_ID].update(change)
    with pytest.raises(InvalidObject, match=message):
        check_object(indicator, AUTHOR)


def test_the_server_refuses_a_pattern_that_disagrees_with_the_extension() -> None:
    indicator = built(flag())
    indicator["pattern"] = (
        "[cryptocurrency-wallet:value = '0x0000000000000000000000000000000000000000']"
    )
    with pytest.raises(InvalidObject, match="pattern does not match"):
        check_object(indicator, AUTHOR)


@pytest.mark.parametrize(
    "bad",
    [
        {"extension_type": "property-extension", "chain": "eip155:1", "address": ETH.canonical},
        {"extension_type": "toplevel-property-extension", "chain": "eip155:1",
         "address": ETH.canonical, "category": "scam"},
        {"extension_type": "property-extension", "chain": "Ethereum", "address": ETH.canonical,
         "category": "scam"},
        {"extension_type": "property-extension", "chain": "eip155:1", "address": ETH.canonical,
         "category": "scam", "colour": "red"},
    ],
)  # fmt: skip
def test_the_extension_schema_refuses_malformed_extensions(bad: dict[str, str]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, extension_schema())


@pytest.mark.parametrize("confidence", [-1, 101])
def test_confidence_outside_0_to_100_is_refused_on_both_paths(confidence: int) -> None:
    common = built(flag())
    common["confidence"] = confidence
    uncommon = {**common, "kill_chain_phases": [{"kill_chain_name": "k", "phase_name": "p"}]}
    for value in (common, uncommon):
        with pytest.raises(InvalidObject, match=r"not between 0 and 100|from 0 to 100"):
            check_object(value, AUTHOR)


def test_a_modified_centuries_before_created_is_refused_on_both_paths() -> None:
    common = {
        **built(flag()), "created": "2025-01-01T00:00:00.000Z",
        "modified": "0999-12-31T23:59:59.000Z",
    }  # fmt: skip
    uncommon = {**common, "kill_chain_phases": [{"kill_chain_name": "k", "phase_name": "p"}]}
    for value in (common, uncommon):
        with pytest.raises(InvalidObject, match="earlier than created"):
            check_object(value, AUTHOR)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120), st.sampled_from(["stix", "pcre", "sigma"]))
def test_any_pattern_is_stored_or_refused_with_a_reason(pattern: str, pattern_type: str) -> None:
    value = {**built(flag()), "pattern": pattern, "pattern_type": pattern_type}
    del value["extensions"]
    try:
        check_object(value, AUTHOR)
    except InvalidObject as error:
        assert error.description  # noqa: PT017 - the refusal itself is what is checked


# What an envelope can hold: it refuses integers a 64-bit reader would not take exactly.
INTEGERS = st.integers(-(2**63), 2**64 - 1)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | INTEGERS | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=2) | st.dictionaries(st.text(), children, max_size=2)
    ),
    max_leaves=4,
)
INDICATOR_FIELDS = sorted(built(flag()))
EXTENSION_FIELDS = ["chain", "address", "category", "extension_type", "colour"]
SCHEMA_FIELDS = [*EXTENSION_FIELDS, "asset", "source"]
# Texts near the schema's bounds, and values it takes, beside any JSON.
SCHEMA_VALUES = (
    JSON_VALUES
    | st.text(min_size=31, max_size=33)
    | st.text(min_size=63, max_size=65)
    | st.from_regex(r"[0-9A-Za-z:]{24,130}", fullmatch=True)
    | st.sampled_from(["property-extension", "eip155:1", "ETH", ETH.canonical, "scam", ""])
)


CHANGES = st.lists(st.tuples(st.sampled_from(INDICATOR_FIELDS), JSON_VALUES), max_size=2)
EXTENSION_CHANGES = st.lists(st.tuples(st.sampled_from(EXTENSION_FIELDS), JSON_VALUES), max_size=2)


@settings(max_examples=300, deadline=None)
@given(EXTENSION_CHANGES, CHANGES)
def test_any_json_in_any_field_is_stored_or_refused_with_a_reason(
    in_extension: list[tuple[str, Any]], changes: list[tuple[str, Any]]
) -> None:
    # Whatever JSON a field holds, the object passes or fails alone: never an error that
    # would fail the envelope around it, in its check or in what is kept of it.
    value = built(flag())
    value["extensions"][EXTENSION_ID].update(in_extension)
    value.update(changes)
    try:
        checked = check_object(value, AUTHOR)
    except InvalidObject as error:
        assert error.description  # noqa: PT017 - the refusal itself is what is checked
        return
    # What the check read of the address is what indexing the object would read again.
    assert Candidate.of(value, checked=checked).flags == Candidate.of(value).flags


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SCHEMA_FIELDS), SCHEMA_VALUES), max_size=3))
def test_an_extension_its_schema_refuses_the_server_refuses(
    in_extension: list[tuple[str, Any]],
) -> None:
    value = built(flag())
    extension = value["extensions"][EXTENSION_ID]
    extension.update(in_extension)
    refused = next(jsonschema.Draft202012Validator(extension_schema()).iter_errors(extension), None)
    if refused is None:
        return  # the server may refuse it still, for what no schema says: a checksum, say
    with pytest.raises(InvalidObject):
        check_object(value, AUTHOR)


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_stix_timestamps_keep_four_digit_years_and_sort_as_their_moments(
    moment: datetime, other: datetime
) -> None:
    def to_the_millisecond(value: datetime) -> datetime:
        return value.replace(microsecond=value.microsecond // 1000 * 1000)

    text, moment = stix_timestamp(moment), to_the_millisecond(moment)
    assert len(text) == len("2026-01-01T00:00:00.000Z")
    assert parse_stix_timestamp(text) == moment
    assert (text < stix_timestamp(other)) == (moment < to_the_millisecond(other))


def test_every_report_of_a_run_of_sightings_is_a_version_of_one_object() -> None:
    indicator = built(flag())["id"]
    first_seen = datetime(2026, 11, 20, 10, tzinfo=UTC)
    earlier = build_sighting(AUTHOR, indicator, count=2, first_seen=first_seen,
                             last_seen=first_seen, now=NOW)  # fmt: skip
    later = build_sighting(AUTHOR, indicator, count=5, first_seen=first_seen, last_seen=NOW,
                           now=NOW.replace(hour=13))  # fmt: skip
    assert later["id"] == earlier["id"]
    assert later["created"] == earlier["created"] == "2026-11-20T10:00:00.000Z"
    assert later["modified"] > earlier["modified"]
    for version in (earlier, later):
        assert validator_errors(version) == []
        assert check_object(version, AUTHOR) is None
    with pytest.raises(InvalidObject, match=r"first_seen 2026-11-22T12:00:00\.123Z has not"):
        build_sighting(AUTHOR, indicator, count=1, first_seen=NOW, last_seen=NOW, now=first_seen)
    with pytest.raises(InvalidObject, match=r"last_seen 2026-11-22T12:00:00\.123Z has not"):
        build_sighting(AUTHOR, indicator, count=1, first_seen=first_seen, last_seen=NOW,
                       now=first_seen)  # fmt: skip
    for other, said in (
        ("sighting--" + indicator.split("--")[1], "is not an indicator id"),
        (indicator[:-1], "is not an indicator id"),
        (f"{indicator}@{NOW}", f"give the id alone, {indicator}"),  # as `feed check` shows it
    ):
        with pytest.raises(InvalidObject, match=said):
            build_sighting(AUTHOR, other, count=1, first_seen=first_seen, last_seen=first_seen,
                           now=NOW)  # fmt: skip
