"""Incoming envelopes keep each object's exact bytes; outgoing pages never carry empty lists,
and a client's envelopes fit the server's limit."""

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from feed.envelope import envelopes, page, parse_envelope
from feed.errors import BadRequest, ConfigurationError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.lists(st.dictionaries(st.text(), json_values, max_size=4), min_size=1, max_size=5),
    st.sampled_from(["compact", "spaced", "pretty"]),
)
def test_each_object_keeps_its_bytes(objects: list[dict[str, object]], layout: str) -> None:
    if layout == "compact":  # as our publisher writes them
        raw = orjson.dumps({"objects": objects})
    else:
        envelope = {"more": False, "objects": objects}
        raw = json.dumps(envelope, indent=2 if layout == "pretty" else None).encode()
    items = parse_envelope(raw)
    assert [item.value for item in items] == objects
    for item in items:
        assert orjson.loads(item.raw) == item.value
        assert item.raw in raw
    if layout == "compact":
        assert b'{"objects":[' + b",".join(item.raw for item in items) + b"]}" == raw


def test_elements_that_are_not_objects_are_kept_without_bytes() -> None:
    for raw in (b'{"objects":[1,{"a":2},"b"]}', b'{"objects": [1, {"a": 2}, "b"]}'):
        assert [(item.value, item.raw) for item in parse_envelope(raw)] == [
            (1, b""),
            ({"a": 2}, raw[raw.index(b"{", 2) : raw.index(b"}") + 1]),
            ("b", b""),
        ]


def test_strings_that_look_like_structure() -> None:
    raw = b'{"x": "objects", "objects": [{"a": "]},{\\"["}, {"objects": [{"b": 1}]}]}'
    assert [item.raw for item in parse_envelope(raw)] == [
        b'{"a": "]},{\\"["}',
        b'{"objects": [{"b": 1}]}',
    ]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b'{"objects": [{"a": 18446744073709551616}]}', "18446744073709551616 is outside"),
        (b'{"objects":[{"a":18446744073709551616}]}', "18446744073709551616 is outside"),
        (b'{"objects":[{"a":-9223372036854775809}]}', "-9223372036854775809 is outside"),
        (b'{"objects":[{"a":"\\ud800"}]}', "not valid JSON"),
        (b'{"objects":[{"a":1}]}{}', "not valid JSON near line 1 column 22"),
        (b'{"objects": [{"a": -9223372036854775809}]}', "-9223372036854775809 is outside"),
        (b'{"objects": [{"a": NaN}]}', "NaN is not JSON"),
        (b'{"objects": [{"a": -Infinity}]}', "-Infinity is not JSON"),
        (b'{"objects": [{"a": "\\ud800"}]}', "not valid JSON"),
        (b'{"objects": [{"a": "\xff"}]}', r"not UTF-8 \(byte 20 is invalid\)"),
        (b'{"objects": [{"a": 1}]} {}', "not valid JSON near line 1 column 25"),
        (b'{"objects": [{"a": 1}]', "not valid JSON near line 1 column 23"),
        (b'{"objects": [{"a": 1}\n {"b": 2}]}', "not valid JSON near line 2 column 2"),
        (b'{"objects": [{"a": 1}], "more" false}', "not valid JSON near line 1 column 32"),
    ],
)
def test_what_readers_could_take_differently_is_refused(raw: bytes, problem: str) -> None:
    with pytest.raises(BadRequest, match=problem):
        parse_envelope(raw)


def test_a_surrogate_pair_is_kept() -> None:
    raw = b'{"objects": [{"a": "\\ud83d\\ude00"}]}'
    assert parse_envelope(raw)[0].value == {"a": "\U0001f600"}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"objects": [{"a": 1}], "objects": [{"b": 2}]}',
        b'{"objects": [{"id": "x--1", "type": "x", "id": "x--2"}]}',
        b'{"objects": [{"a": {"b": 1, "b": 2}}]}',
        b'{"objects":[{"a":1}],"objects":[{"a":1}]}',
        b'{"objects":[{"a":1,"a":1}]}',
        b'{"objects":[{"a":{"b":[{"c":1,"c":2}]}}]}',
    ],
)
def test_a_key_named_twice_is_refused(raw: bytes) -> None:
    # Parsers disagree on which value wins: what was checked could differ from what is read.
    with pytest.raises(BadRequest, match="appears twice"):
        parse_envelope(raw)


@pytest.mark.parametrize(
    "raw", [b"", b"[", b"{}", b'{"objects": 3}', b'{"objects": []}', b'{"objects":[]}', b"[{}]"]
)
def test_not_an_envelope(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_envelope(raw)


def test_pages() -> None:
    assert page([], key="objects", more=False, next_token=None) == b'{"more":false}'
    assert json.loads(page([b'{"a":1}'], key="objects", more=True, next_token="t")) == {
        "more": True,
        "next": "t",
        "objects": [{"a": 1}],
    }


def test_a_page_splices_its_items_byte_for_byte() -> None:
    items = [b'{"a": 1}', '{"b":"Z\u00fcrich \u00fc"}'.encode(), b'{"c":[]}']
    spliced = page(items, key="versions", more=False, next_token=None)
    assert spliced == b'{"more":false,"versions":[' + b",".join(items) + b"]}"
    assert page(items[:1], key="objects", more=True, next_token=None) == (
        b'{"more":true,"objects":[{"a": 1}]}'
    )


def test_envelopes_fit_the_limit() -> None:
    objects = [json.dumps({"id": f"x--{n}", "pad": "p" * n}).encode() for n in range(100)]
    batches = list(envelopes(objects, 1000))
    assert sum(count for _, count in batches) == 100
    assert all(len(envelope) <= 1000 for envelope, _ in batches)
    assert [o["id"] for e, _ in batches for o in json.loads(e)["objects"]] == [
        f"x--{n}" for n in range(100)
    ]
    with pytest.raises(ConfigurationError, match="takes at most 100"):
        list(envelopes(objects[-1:], 100))
    assert [count for _, count in envelopes(objects, 10**6, max_count=30)] == [30, 30, 30, 10]
