"""`feed lookup`, as an exchange that keeps no mirror runs it: each address answered by the
server from the feeds its key may read, an address that is no address said so beside the
rest, and a long list asked in batches the server takes. `feed report-hit` of what is no
indicator id."""

import json
from pathlib import Path

import pytest

from feed import client as client_module
from tests.conftest import World
from tests.hostile_server import HostileServer
from tests.test_mirror import BTC, ETH, feed_command, publish

UNFLAGGED = "0x" + "12" * 20


def test_lookup_answers_each_address_from_the_server(base_url: str, world: World) -> None:
    publish(base_url, world, {"chain": "ETH", "address": ETH, "category": "scam"})
    asked = ["--url", base_url, "--key", world.exchange.bearer]
    found = feed_command("lookup", ETH.lower(), "nonsense", UNFLAGGED, *asked)
    assert found.returncode == 3, found.stderr
    hit, invalid, clear = found.stdout.splitlines()
    assert hit.startswith(f"{ETH.lower()}\tHIT\tHotline alerts\tHotline\tscam\tconfidence ")
    assert invalid == "nonsense\tinvalid\tnonsense is no address of a known chain"
    assert clear == f"{UNFLAGGED}\tno hit"
    answered = json.loads(feed_command("lookup", ETH, *asked, "--json").stdout)
    assert [match["indicator"][:11] for match in answered[0]["matches"]] == ["indicator--"]
    assert feed_command("lookup", UNFLAGGED, *asked).returncode == 0
    assert feed_command("lookup", "nonsense", *asked).returncode == 1
    # Only the feeds the key may read: the outsider is granted none.
    outsider = feed_command("lookup", ETH, "--url", base_url, "--key", world.outsider.bearer)
    assert (outsider.returncode, outsider.stdout) == (0, f"{ETH}\tno hit\n")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_long_list_is_asked_in_batches_and_answered_in_order(
    base_url: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(base_url, world, {"chain": "BTC", "address": BTC, "category": "csam"})
    monkeypatch.setattr(client_module, "LOOKUP_BATCH", 2)
    asked: list[tuple[str, str | None]] = [
        (UNFLAGGED, None),
        ("nonsense", None),
        (BTC, "BTC"),
        (ETH, "ETH"),
        (BTC, None),
    ]
    results = client_module.lookup(base_url, world.exchange.bearer, asked)
    assert [result["address"] for result in results] == [address for address, _ in asked]
    assert [result.get("flagged") for result in results] == [False, None, True, False, True]


def test_a_server_s_words_are_shown_escaped() -> None:
    """A lookup's answer is the server's text: written raw, a hostile one could erase the
    lines above it or print lines of its own."""
    erase = "\x1b[2K\r"
    answer = {"results": [{"address": ETH, "readings": [], "flagged": True, "matches": [
        {"collection": "c", "collection_title": f"t{erase}", "indicator": "indicator--x\nforged",
         "version": "v", "chain": "eip155:1", "address": ETH, "category": f"scam{erase}",
         "confidence": 5},
    ]}]}  # fmt: skip
    with HostileServer([], lookup=json.dumps(answer).encode()) as server:
        found = feed_command("lookup", ETH, "--url", server.url, "--key", "k.s")
    assert found.returncode == 3, found.stderr
    assert found.stdout == (
        f"{ETH}\tHIT\tt\\x1b[2K\\r\t?\tscam\\x1b[2K\\r\tconfidence 5\tindicator--x\\nforged@v\n"
    )


def test_report_hit_refuses_what_is_no_indicator_id_before_asking_anyone(tmp_path: Path) -> None:
    # No server and no mirror: the id is judged first.
    asked = ["--url", "http://127.0.0.1:9", "--key", "k.s", "--mirror", str(tmp_path / "none.db")]
    indicator = "indicator--0b5e4b14-3f4b-5b4e-8e3a-0c1d2e3f4a5b"
    copied = feed_command("report-hit", f"{indicator}@2026-11-20T10:00:00.000Z", *asked)
    assert copied.returncode == 1
    assert f"give the id alone, {indicator}" in copied.stderr
    address = feed_command("report-hit", ETH, *asked)
    assert address.returncode == 1
    assert f"'{ETH}' is not an indicator id (indicator--<UUID>)" in address.stderr
