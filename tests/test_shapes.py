"""The fast check of the common indicator shape agrees with stix2, the reference: whatever it
accepts stix2 accepts, whatever it refuses stix2 refuses, and anything else it leaves to stix2.
Checked on built indicators and on hypothesis's mutations of them."""

import copy
import warnings
from datetime import UTC, datetime
from typing import Any

import stix2
from hypothesis import given, settings
from hypothesis import strategies as st

from feed import shapes
from feed.addresses import parse_address
from feed.indicators import Flag, build_indicator
from feed.shapes import Unfit, common_indicator
from feed.stix import EXTENSION_ID, Category

AUTHOR = "identity--0b6d7d0c-3f0e-4c1e-9d64-0c8f2d4b9a11"
BUILT = build_indicator(
    Flag(
        parse_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "BTC"),
        Category.CSAM,
        reference="https://example.org/case/1",
        description="seen",
    ),
    AUTHOR,
    datetime(2026, 11, 22, tzinfo=UTC),
)
assert BUILT is not None
BASE: dict[str, Any] = BUILT

FIELDS = [*sorted(BASE), "revoked", "lang", "kill_chain_phases", "x_note"]
EXAMPLES = [
    "", "x", "2.1", "2.0", "stix", "2026-01-01T00:00:00Z", "2026-13-01T00:00:00Z",
    "2026-01-01T00:00:00", "2025-01-01T00:00:00.5Z", "2099-01-01T00:00:00.000Z",
    "indicator--00000000-0000-4000-8000-000000000000",
    "indicator--00000000-0000-0000-0000-000000000000",
    "identity--0B6D7D0C-3F0E-4C1E-9D64-0C8F2D4B9A11", "identity--nope",
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "[cryptocurrency-wallet:value = 'x']", "[ipv4-addr:value = '1.2.3.4']",
]  # fmt: skip
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=200),
    st.sampled_from(EXAMPLES),
    st.lists(st.sampled_from(["a", "malicious-activity", 3]), max_size=2),
    st.just([{"source_name": "s"}]),
    st.just([{"source_name": "s", "url": "https://e.org"}]),
    st.just([{"url": "https://e.org"}]),
    st.just(["marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"]),
    st.just(["marking-definition--x"]),
)


def stix2_accepts(value: dict[str, Any]) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stix2.parse(value, allow_custom=True, version="2.1")
    except Exception:
        return False
    return True


def verdict(value: dict[str, Any]) -> bool | None:
    try:
        return common_indicator(value, EXTENSION_ID)
    except Unfit:
        return False


def test_built_indicators_take_the_fast_path() -> None:
    assert verdict(BASE) is True
    assert stix2_accepts(BASE)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), min_size=1, max_size=3))
def test_the_fast_check_agrees_with_stix2(changes: list[tuple[str, Any]]) -> None:
    value = copy.deepcopy(BASE)
    for field, new in changes:
        if new is None:
            value.pop(field, None)
        else:
            value[field] = new
    fast = verdict(value)
    if fast is None:
        return  # left to stix2
    modified_first = (
        isinstance(value.get("modified"), str)
        and isinstance(value.get("created"), str)
        and value["modified"] < value["created"]
    )
    confidence = value.get("confidence", 0)
    out_of_range = isinstance(confidence, int) and not 0 <= confidence <= 100
    if fast is False and (modified_first or out_of_range):
        return  # rules of STIX that stix2 lets pass; check_object applies them on both paths
    assert fast == stix2_accepts(value), value


def test_long_texts_are_checked_without_being_remembered() -> None:
    """The checks remember the timestamps and references a batch shares; a posted text of any
    length must not stay in memory for it."""
    long_time = "2026-01-01T00:00:00." + "1" * 10_000 + "Z"
    shapes._moment.cache_clear()
    assert verdict({**BASE, "created": long_time, "modified": long_time}) is None
    assert shapes._moment.cache_info().currsize == 0
    shapes._canonical_reference.cache_clear()
    assert verdict({**BASE, "created_by_ref": "identity--" + "0" * 10_000}) is False
    assert shapes._canonical_reference.cache_info().currsize == 0
    assert verdict(BASE) is True
    assert shapes._moment.cache_info().currsize > 0
    assert shapes._canonical_reference.cache_info().currsize > 0
