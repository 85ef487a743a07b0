"""The pure protocol core: media types, timestamps, filters and cursors."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feed.errors import BadRequest
from feed.taxii import (
    Cursor,
    Filters,
    accepts_taxii,
    cursor_scope,
    format_timestamp,
    is_taxii_content_type,
    normalise_version,
    parse_filters,
    parse_limit,
    parse_timestamp,
)

ALL = ("id", "type", "version", "spec_version", "added_after")


def test_media_types() -> None:
    assert accepts_taxii("application/taxii+json;version=2.1")
    assert accepts_taxii("application/TAXII+json")
    assert not accepts_taxii("application/taxii+json;version=2.1;q=0")
    assert not accepts_taxii("application/json")
    assert not accepts_taxii(None)
    assert is_taxii_content_type("application/taxii+json; version=2.1")
    assert not is_taxii_content_type("application/stix+json;version=2.1")


# Every moment a STIX timestamp can name: years 0001 to 9999.
MOMENTS = st.integers(min_value=-62_135_596_800_000_000, max_value=253_402_300_799_999_999)


@given(MOMENTS, MOMENTS)
def test_timestamps_round_trip_in_one_width_that_sorts_as_they_do(micros: int, other: int) -> None:
    # Versions are stored and compared as this text: a year of three digits would sort after
    # every year of four.
    text = format_timestamp(micros)
    assert len(text) == 27
    assert text.endswith("Z")
    assert parse_timestamp(text) == micros
    assert (text < format_timestamp(other)) == (micros < other)


def test_timestamps_are_parsed_leniently() -> None:
    assert parse_timestamp("2025-01-02T03:04:05Z") == parse_timestamp("2025-01-02T03:04:05.000000Z")
    assert normalise_version("2025-01-02T03:04:05.1Z") == "2025-01-02T03:04:05.100000Z"
    assert normalise_version("2025-01-02T03:04:05.123456789Z") == "2025-01-02T03:04:05.123456Z"
    assert normalise_version("2025-01-02T03:04:05+00:00") == "2025-01-02T03:04:05.000000Z"
    assert normalise_version("0999-12-31T23:59:59Z") == "0999-12-31T23:59:59.000000Z"
    assert normalise_version("2016-12-31T23:59:60.5Z") == "2016-12-31T23:59:59.500000Z"
    for bad in (
        "2025-01-02",
        "2025-01-02T03:04:05",
        "2025-01-02T03:04:05+02:00",
        "2025-02-30T00:00:00Z",
        "2025-01-02T03:04:61Z",
        "2025-01-02T03:04:99Z",
    ):
        with pytest.raises(BadRequest):
            parse_timestamp(bad)


def test_filters() -> None:
    filters = parse_filters(
        {"match[type]": ["indicator,identity"], "match[version]": ["first,2025-01-01T00:00:00Z"]},
        ALL,
    )
    assert filters.types == ("indicator", "identity")
    assert filters.version_selector == frozenset({"first"})
    assert filters.versions == ("2025-01-01T00:00:00.000000Z",)
    assert parse_filters({}, ALL) == Filters()
    with pytest.raises(BadRequest, match="given 2 times"):
        parse_filters({"match[type]": ["indicator", "identity"]}, ALL)
    with pytest.raises(BadRequest, match="not supported"):
        parse_filters({"match[type]": ["indicator"]}, ("version",))
    with pytest.raises(BadRequest, match="empty item"):
        parse_filters({"match[type]": ["indicator,"]}, ALL)


def test_limit_is_clamped() -> None:
    assert parse_limit({}, default=100, maximum=50) == 50
    assert parse_limit({"limit": ["10"]}, default=100, maximum=50) == 10
    assert parse_limit({"limit": ["99999"]}, default=100, maximum=50) == 50


@given(st.integers(min_value=0, max_value=2**62), st.binary(min_size=1, max_size=20))
def test_cursor_round_trips_and_rejects_other_scopes(date_added: int, other: bytes) -> None:
    key = b"k" * 32
    scope = cursor_scope("objects", "c1", "org", Filters())
    token = Cursor(date_added).encode(key, scope)
    assert Cursor.decode(token, key, scope) == Cursor(date_added)
    with pytest.raises(BadRequest):
        Cursor.decode(token, key, scope + other)
    with pytest.raises(BadRequest):
        Cursor.decode(token, b"x" * 32, scope)


@given(st.text(max_size=60))
def test_arbitrary_cursor_text_is_a_bad_request(token: str) -> None:
    with pytest.raises(BadRequest):
        Cursor.decode(token, b"k" * 32, b"scope")


FILTER_NAMES = ["match[id]", "match[type]", "match[version]", "match[spec_version]",
                "added_after", "limit", "next", "match[colour]", "match[]"]  # fmt: skip
FILTER_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["all", "first", "last", "2.1", "indicator", "2025-01-01T00:00:00Z", ","]),
)


@given(st.dictionaries(st.sampled_from(FILTER_NAMES), st.lists(FILTER_VALUES, max_size=3)))
def test_any_query_is_filters_or_a_bad_request(params: dict[str, list[str]]) -> None:
    try:
        filters = parse_filters(params, ("id", "type", "version", "spec_version", "added_after"))
    except BadRequest as error:
        refusal: BadRequest | None = error
    else:
        refusal = None
        assert isinstance(filters.fingerprint(), bytes)
    if refusal is not None:
        assert refusal.description
