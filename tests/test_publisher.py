"""The publisher: rows planned against what a feed holds (pure), then `feed publish` against a
real server, as a watchdog uses it."""

import copy
import csv
import json
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from feed.client import FeedClient
from feed.errors import ConfigurationError
from feed.publisher import Plan, plan
from feed.publisher_rows import NumberedRow
from feed.sandbox import synthetic_address
from feed.stix import EXTENSION_ID, check_object
from tests.conftest import World
from tests.stix_objects import indicator
from tests.test_addresses import RANSOMWARE

AUTHOR = "identity--0b6d7d0c-3f0e-4c1e-9d64-0c8f2d4b9a11"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
BTC = "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggu"
ETH = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def rows(*fields: dict[str, Any] | str) -> list[NumberedRow]:
    return list(enumerate(fields, start=2))


def posted(result: Plan) -> list[dict[str, Any]]:
    return [planned.indicator for planned in result.versions]


def counts(result: Plan) -> dict[str, int]:
    return {name: count for name, count in result.counts.items() if count}


def test_first_publication_then_nothing_to_do() -> None:
    given = rows(
        {"address": BTC, "chain": "BTC", "category": "csam"},
        {"address": ETH.lower(), "chain": "ETH", "category": "scam", "confidence": "40"},
    )
    first = plan(given, [], AUTHOR, NOW)
    assert counts(first) == {"new": 2}
    assert first.rejected == []
    again = plan(given, posted(first), AUTHOR, NOW + timedelta(hours=1))
    assert counts(again) == {"unchanged": 2}
    assert again.versions == []


def test_changes_become_new_versions_of_the_same_indicator() -> None:
    first = posted(plan(rows({"address": BTC, "chain": "BTC", "category": "csam"}), [], AUTHOR))
    changed = {"address": BTC, "chain": "BTC", "category": "csam", "confidence": 10}
    later = plan(rows(changed), first, AUTHOR)
    assert counts(later) == {"updated": 1}
    (version,) = posted(later)
    assert version["id"] == first[0]["id"]
    assert version["confidence"] == 10
    assert version["modified"] > first[0]["modified"]


def test_revoking_and_flagging_again() -> None:
    flagged = posted(plan(rows({"address": BTC, "chain": "BTC", "category": "csam"}), [], AUTHOR))
    revoke = rows({"address": BTC, "chain": "BTC", "action": "revoke"})
    revoked = plan(revoke, flagged, AUTHOR)
    assert counts(revoked) == {"revoked": 1}
    assert posted(revoked)[0]["revoked"] is True
    assert counts(plan(revoke, posted(revoked), AUTHOR)) == {"unchanged": 1}
    # A revoked indicator takes no new versions: flagging again starts a new indicator.
    again = plan(
        rows({"address": BTC, "chain": "BTC", "category": "scam"}), posted(revoked), AUTHOR
    )
    assert counts(again) == {"new": 1}
    assert posted(again)[0]["id"] != flagged[0]["id"]
    never = plan(rows({"address": ETH, "chain": "ETH", "action": "revoke"}), [], AUTHOR)
    assert [r.reason for r in never.rejected] == [f"{ETH} is not flagged in this feed"]


def test_replacing_a_source_revokes_what_it_no_longer_lists() -> None:
    listed = rows(
        {"address": BTC, "chain": "BTC", "category": "sanctions", "source": "list"},
        {"address": ETH, "chain": "ETH", "category": "sanctions", "source": "list"},
        {"address": "TAYhjpL8pPs8T84FSM329nffQpc6jD8GBM", "category": "scam", "source": "other"},
    )
    before = posted(plan(listed, [], AUTHOR))
    newer = plan(listed[:1], before, AUTHOR, replace_source="list")
    assert counts(newer) == {"unchanged": 1, "revoked": 1}
    (revocation,) = newer.versions
    assert (revocation.line, revocation.address) == (0, ETH)


def test_a_replaced_list_never_revokes_what_a_rejected_row_names() -> None:
    listed = rows(
        {"address": BTC, "chain": "BTC", "category": "sanctions", "source": "list"},
        {"address": ETH, "chain": "ETH", "category": "sanctions", "source": "list"},
    )
    before = posted(plan(listed, [], AUTHOR))
    # A misspelt category: the row is refused, and its address is still on the list.
    misspelt = {"address": ETH.lower(), "chain": "eip155:1 ", "category": "sanction"}
    newer = plan([*listed[:1], (3, misspelt)], before, AUTHOR, replace_source="list")
    assert counts(newer) == {"unchanged": 1}
    assert (len(newer.rejected), newer.withheld) == (1, 0)
    # An address that cannot be read may be any of the list's: nothing is revoked until the
    # row is mended, and the plan says how many stayed live.
    for unreadable in ({"address": ETH[:-1], "chain": "ETH"}, {"address": 5}, "not JSON"):
        held = plan([*listed[:1], (3, unreadable)], before, AUTHOR, replace_source="list")
        assert (counts(held), held.withheld) == ({"unchanged": 1}, 1)
    mended = plan(listed[:1], before, AUTHOR, replace_source="list")
    assert (counts(mended), mended.withheld) == ({"unchanged": 1, "revoked": 1}, 0)


def test_a_list_with_no_row_at_all_revokes_nothing() -> None:
    listed = rows({"address": BTC, "chain": "BTC", "category": "sanctions", "source": "list"})
    before = posted(plan(listed, [], AUTHOR))
    with pytest.raises(ConfigurationError, match="would revoke all 1 indicator of it"):
        plan([], before, AUTHOR, replace_source="list")
    assert counts(plan([], before, AUTHOR, replace_source="another list")) == {}


def listed_of(size: int, seed: int) -> list[NumberedRow]:
    """`size` rows of one list, `list`, of synthetic addresses."""
    rng = random.Random(seed)
    made = [synthetic_address(rng) for _ in range(size)]
    return rows(*({"address": a.canonical, "chain": a.chain.caip2, "category": "sanctions",
                   "source": "list"} for a in made))  # fmt: skip


@pytest.mark.parametrize(("size", "most"), [(40, 10), (200, 20)])
def test_a_list_that_came_out_short_revokes_no_more_than_a_tenth_unasked(
    size: int, most: int
) -> None:
    """Revoking tells every exchange to let an address's payments through: a run revokes at
    most a tenth of the list (at least ten) unless told it may revoke more."""
    listed = listed_of(size, seed=size)
    before = posted(plan(listed, [], AUTHOR))
    at_most = plan(listed[: size - most], before, AUTHOR, replace_source="list")
    assert counts(at_most)["revoked"] == most
    with pytest.raises(ConfigurationError) as refused:
        plan(listed[: size - most - 1], before, AUTHOR, replace_source="list")
    assert refused.value.description == (
        f"as the whole list 'list' the file would revoke {most + 1} of its {size} indicators, "
        f"more than the {most} a run revokes unless --max-revoked allows more: an export that "
        f"came out short would do this. Check the file; --dry-run --max-revoked {most + 1} "
        "lists them"
    )
    allowed = plan(listed[:1], before, AUTHOR, replace_source="list", max_revoked=size - 1)
    assert counts(allowed) == {"unchanged": 1, "revoked": size - 1}
    with pytest.raises(ConfigurationError, match="the file would revoke 1 of its"):
        plan(listed[1:], before, AUTHOR, replace_source="list", max_revoked=0)


def test_bad_rows_are_rejected_with_their_line_and_never_stop_good_ones() -> None:
    result = plan(
        rows(
            "not JSON: Expecting value",
            {"address": BTC, "chain": "BTC"},
            {"address": BTC, "chain": "BTC", "category": "csam", "colour": "red"},
            {"address": BTC, "chain": "BTC", "category": "csam", "tlp": "purple"},
            {"address": BTC, "chain": "BTC", "category": "csam", "valid_until": "2030-01-01"},
            {"address": "TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq", "chain": "XBT", "category": "csam"},
            {"address": ETH, "chain": "ETH", "category": "csam"},
            {"address": ETH.lower(), "chain": "eip155:1", "category": "theft"},
            {"address": BTC, "chain": "BTC", "category": "csam"},
        ),
        [],
        AUTHOR,
    )
    reasons = {r.line: r.reason for r in result.rejected}
    assert reasons[2] == "not JSON: Expecting value"
    assert reasons[3] == "category: needed to flag an address"
    assert reasons[4].startswith("colour: Extra inputs are not permitted")
    assert reasons[5].startswith("tlp: Input should be")
    assert reasons[6].startswith("valid_until: Input should have timezone info")
    assert "reads as a Tron address" in reasons[7]
    assert reasons[9] == f"{ETH} is already on line 8"
    assert len(reasons) == 7
    assert [p.line for p in result.versions] == [8, 10]


def test_indicators_of_other_authors_are_not_ours_to_version() -> None:
    theirs = posted(plan(rows({"address": BTC, "chain": "BTC", "category": "csam"}), [], AUTHOR))
    result = plan(rows({"address": BTC, "chain": "BTC", "category": "csam"}), theirs, "identity--x")
    assert counts(result) == {"new": 1}


def test_an_indicator_of_ours_the_server_would_now_refuse_gets_a_version_it_takes() -> None:
    given = rows({"address": ETH, "chain": "ETH", "category": "scam"})
    (first,) = posted(plan(given, [], AUTHOR, NOW))
    held = copy.deepcopy(first)
    held["extensions"][EXTENSION_ID]["chain"] = "ETH"  # a ticker, not the CAIP-2 id
    result = plan(given, [held], AUTHOR, NOW + timedelta(hours=1))
    assert counts(result) == {"new": 1}
    (version,) = posted(result)
    assert version["id"] == first["id"]
    assert version["modified"] > first["modified"]
    assert version["extensions"][EXTENSION_ID]["chain"] == "eip155:1"
    check_object(version, AUTHOR)


def run_publish(
    base_url: str, world: World, path: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    """`feed publish` of `path` to the world's feed, as its watchdog, whatever it answers."""
    return subprocess.run(
        [sys.executable, "-m", "feed.cli", "publish", str(path), "--url", base_url,
         "--key", world.watchdog.bearer, "--feed", world.feed, *extra],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def publish_command(
    base_url: str, world: World, path: Path, *extra: str
) -> tuple[int, dict[str, Any]]:
    done = run_publish(base_url, world, path, "--json", *extra)
    assert done.returncode in (0, 3), done.stderr
    summary: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, summary


def printed_by_publish(base_url: str, world: World, path: Path, *extra: str) -> str:
    """What `feed publish` prints for people, not as JSON."""
    return run_publish(base_url, world, path, *extra).stdout


def published_list(base_url: str, world: World, tmp_path: Path) -> Path:
    """A list `sdn` of two addresses, published as the whole list, and its file."""
    listed = tmp_path / "list.csv"
    listed.write_text(f"chain,address,category,source\nBTC,{BTC},sanctions,sdn\n"
                      f"ETH,{ETH},sanctions,sdn\n")  # fmt: skip
    publish_command(base_url, world, listed, "--replace-source", "sdn")
    return listed


def test_feed_publish_end_to_end(base_url: str, world: World, tmp_path: Path) -> None:
    source = tmp_path / "ransomware.csv"
    with RANSOMWARE.open() as given, source.open("w", newline="") as written:
        table = csv.writer(written)
        table.writerow(["chain", "address", "category", "reference"])
        for row in csv.DictReader(given):
            table.writerow(["BTC", row["address"], "ransomware", "ransomware-receipts-2024"])
        table.writerow(["BTC", "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggX", "ransomware", ""])
    status, summary = publish_command(base_url, world, source)
    assert status == 3
    assert (summary["new"], summary["unchanged"]) == (1013, 0)
    assert [(r["line"], r["address"]) for r in summary["rejected"]] == [
        (1015, "1BpEi6DfDAUFd7GtittLSdBeYJvcoaVggX")
    ]
    assert "checksum" in summary["rejected"][0]["reason"]

    status, again = publish_command(base_url, world, source)
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, 1013)

    revocation = tmp_path / "revoke.jsonl"
    with RANSOMWARE.open() as given:
        first = next(csv.DictReader(given))["address"]
    revocation.write_text(json.dumps({"address": first, "chain": "BTC", "action": "revoke"}) + "\n")
    status, revoked = publish_command(base_url, world, revocation)
    assert (status, revoked["revoked"], revoked["rejected"]) == (0, 1, [])

    with FeedClient(base_url, world.exchange.bearer, world.feed) as reader:
        seen = list(reader.objects(type="indicator"))
    assert len(seen) == 1013
    assert sum(bool(o.get("revoked")) for o in seen) == 1
    assert {o["extensions"][EXTENSION_ID]["category"] for o in seen} == {"ransomware"}
    assert all(o["created_by_ref"] == world.watchdog.identity for o in seen)


def test_a_list_with_an_unreadable_row_revokes_nothing_and_says_so(
    base_url: str, world: World, tmp_path: Path
) -> None:
    listed = published_list(base_url, world, tmp_path)
    listed.write_text(f"chain,address,category,source\nBTC,{BTC},sanctions,sdn\n"
                      f"ETH,{ETH[:-1]},sanctions,sdn\n")  # fmt: skip
    status, summary = publish_command(base_url, world, listed, "--replace-source", "sdn")
    assert (status, summary["revoked"], summary["withheld"]) == (3, 0, 1)
    printed = printed_by_publish(base_url, world, listed, "--replace-source", "sdn")
    assert "1 indicator the list no longer names stayed live" in printed
    listed.write_text(f"chain,address,category,source\nBTC,{BTC},sanctions,sdn\n")
    status, summary = publish_command(base_url, world, listed, "--replace-source", "sdn")
    assert (status, summary["revoked"], summary["withheld"]) == (0, 1, 0)


def test_the_server_refusal_of_an_object_reaches_the_publisher(base_url: str, world: World) -> None:
    forged = indicator(world.other_watchdog.identity)
    with FeedClient(base_url, world.watchdog.bearer, world.feed) as client:
        assert client.identity()["id"] == world.watchdog.identity
        (outcome,) = client.post([json.dumps(forged).encode()])
    assert outcome.object_id == forged["id"]
    assert outcome.failure is not None
    assert "is not your identity" in outcome.failure


def test_feed_publish_takes_an_export_as_it_is(base_url: str, world: World) -> None:
    """The ransomware data set as published: bitcoin addresses (which other chains read too)
    with no chain or category, beside columns of amounts."""
    leave_out = ("--ignore-column", "type", "--ignore-column", "amountReceivedUSD",
                 "--ignore-column", "amountReceivedBTC")  # fmt: skip
    status, summary = publish_command(
        base_url, world, RANSOMWARE, "--default", "chain=BTC", "--default",
        "category=ransomware", *leave_out,
    )  # fmt: skip
    assert (status, summary["new"], summary["rejected"]) == (0, 1013, [])
    again = printed_by_publish(base_url, world, RANSOMWARE, "--dry-run", "--default", "chain=BTC",
                               "--default", "category=ransomware", *leave_out)  # fmt: skip
    assert again.startswith(
        "hotline: 0 new, 0 updated, 1,013 unchanged, 0 revoked, 0 rejected (a dry run"
    )
    with FeedClient(base_url, world.exchange.bearer, world.feed) as reader:
        seen = [o["extensions"][EXTENSION_ID] for o in reader.objects(type="indicator")]
    assert {(e["chain"], e["category"]) for e in seen} == {
        ("bip122:000000000019d6689c085ae165831e93", "ransomware")
    }
    unreachable = "http://127.0.0.1:9"  # refused before any server is asked
    refused = run_publish(
        unreachable, world, RANSOMWARE, "--default", "category=ransomeware", *leave_out
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: default category: Input should be")


def test_a_dry_run_says_what_would_change_and_posts_nothing(
    base_url: str, world: World, tmp_path: Path
) -> None:
    listed = published_list(base_url, world, tmp_path)
    listed.write_text(f"chain,address,category,source\nBTC,{BTC},scam,sdn\n")
    printed = printed_by_publish(base_url, world, listed, "--replace-source", "sdn", "--dry-run")
    assert printed == (
        "hotline: 0 new, 1 updated, 0 unchanged, 1 revoked, 0 rejected (a dry run: nothing was "
        f"posted)\n  delisting: {ETH}: would be revoked\n"
    )
    with FeedClient(base_url, world.exchange.bearer, world.feed) as reader:
        held = {o["pattern"]: o for o in reader.objects(type="indicator")}
    assert [o["extensions"][EXTENSION_ID]["category"] for o in held.values()] == ["sanctions"] * 2
    assert not any(o.get("revoked") for o in held.values())


def test_a_run_that_would_revoke_most_of_a_list_posts_nothing_unless_allowed(
    base_url: str, world: World, tmp_path: Path
) -> None:
    whole = tmp_path / "whole.csv"
    made = listed_of(30, seed=1)
    lines = [f"{f['chain']},{f['address']},sanctions,list" for _, f in made if isinstance(f, dict)]
    whole.write_text("chain,address,category,source\n" + "\n".join(lines) + "\n")
    publish_command(base_url, world, whole, "--replace-source", "list")
    short = tmp_path / "short.csv"
    short.write_text("chain,address,category,source\n" + "\n".join(lines[:5]) + "\n")
    refused = run_publish(base_url, world, short, "--replace-source", "list")
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        "error: as the whole list 'list' the file would revoke 25 of its 30 indicators"
    )
    with FeedClient(base_url, world.exchange.bearer, world.feed) as reader:
        assert not any(o.get("revoked") for o in reader.objects(type="indicator"))
    status, summary = publish_command(
        base_url, world, short, "--replace-source", "list", "--max-revoked", "25"
    )
    assert (status, summary["revoked"]) == (0, 25)
    alone = run_publish(base_url, world, short, "--max-revoked", "25")
    assert alone.returncode == 2
    assert "--max-revoked limits what --replace-source revokes" in alone.stderr
