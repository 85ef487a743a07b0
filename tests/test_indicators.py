"""Building a watchdog's indicators: one id per publisher and address, the defaults each
category sets, and versions that only move forward, down to the revoked one."""

from datetime import timedelta

import pytest

from feed.addresses import parse_address
from feed.errors import InvalidObject
from feed.indicators import build_indicator, revoke_indicator
from feed.stix import TLP_MARKINGS, Category, Tlp
from tests.test_stix import AUTHOR, ETH, NOW, built, flag, validator_errors


def test_id_is_the_same_for_the_same_publisher_and_address() -> None:
    lower = parse_address(ETH.canonical.lower(), "eip155:1")
    assert built(flag(address=lower))["id"] == built(flag())["id"]
    assert built(flag(), generation=1)["id"] != built(flag())["id"]
    other = build_indicator(flag(), "identity--5d2c1b6e-8a7f-4e3d-9c2b-1a0f9e8d7c6b", NOW)
    assert other is not None
    assert other["id"] != built(flag())["id"]


def test_defaults_by_category() -> None:
    sanctions = built(flag(category=Category.SANCTIONS))
    assert "valid_until" not in sanctions
    assert sanctions["confidence"] == 100
    scam = built(flag(category=Category.SCAM, confidence=40, tlp=Tlp.GREEN))
    assert scam["valid_until"] == "2027-05-21T12:00:00.123Z"
    assert scam["confidence"] == 40
    assert scam["object_marking_refs"] == [TLP_MARKINGS[Tlp.GREEN]]
    assert built(flag())["object_marking_refs"] == [TLP_MARKINGS[Tlp.AMBER_STRICT]]
    given = built(flag(valid_until=NOW + timedelta(days=3)))
    assert given["valid_until"] == "2026-11-25T12:00:00.123Z"
    with pytest.raises(InvalidObject, match="is not after valid_from"):
        built(flag(valid_until=NOW - timedelta(days=3)))


def test_versions() -> None:
    first = built(flag())
    later = NOW + timedelta(hours=1)
    assert build_indicator(flag(), AUTHOR, later, first) is None
    updated = built(flag(confidence=10), first, now=later)
    assert (updated["id"], updated["created"]) == (first["id"], first["created"])
    assert updated["valid_from"] == first["valid_from"]
    assert updated["modified"] > first["modified"]
    # A clock behind the last version still moves the version forward.
    behind = built(flag(confidence=20), updated, now=NOW - timedelta(days=1))
    assert behind["modified"] > updated["modified"]
    revoked = revoke_indicator(behind, later)
    assert revoked["revoked"] is True
    assert revoked["modified"] > behind["modified"]
    assert validator_errors(revoked) == []
    renewed = built(flag(), first, now=NOW + timedelta(days=800))
    assert renewed["valid_from"] > first["valid_until"]
