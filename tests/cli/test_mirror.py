"""`feed mirror list` and `feed mirror forget` as an exchange uses them: the feeds a mirror
holds, and a feed whose grant was withdrawn taken out, so that it screens no more and the
polls of every feed pass again."""

import json
from pathlib import Path

from feed import accounts
from feed.store import Store
from tests.conftest import World
from tests.test_mirror import BTC, feed_command, publish


def test_a_withdrawn_feed_is_listed_then_forgotten(
    base_url: str, store: Store, world: World, tmp_path: Path
) -> None:
    publish(base_url, world, {"chain": "BTC", "address": BTC, "category": "csam"})
    mirror = ("--mirror", str(tmp_path / "mirror.db"))
    poll = ("poll", "--url", base_url, "--key", world.exchange.bearer, *mirror)
    assert feed_command(*poll).returncode == 0
    listed = json.loads(feed_command("mirror", "list", *mirror, "--json", check=True).stdout)
    assert [(f["name"], f["url"], f["active"], f["left"]) for f in listed] == [
        ("hotline", base_url, 1, 0)
    ]
    table = feed_command("mirror", "list", *mirror, check=True).stdout
    assert table.startswith(f"hotline\t{base_url}\tpolled ")
    assert table.endswith("\t1 active\t0 left\n")

    with store.writing() as session:  # the exchange moves from the hotline to another feed
        exchange = accounts.find_organisation(session, world.exchange.id)
        accounts.withdraw_feed(session, accounts.find_feed(session, "hotline"), exchange)
        accounts.grant_feed(session, accounts.find_feed(session, world.other_feed), exchange)
    assert feed_command(*poll).returncode == 1  # its flags still screen, and the poll says so
    assert feed_command("check", BTC, *mirror).returncode == 3

    forgotten = feed_command("mirror", "forget", "hotline", *mirror, check=True).stdout
    assert forgotten == "hotline: forgotten, with its 1 active indicator and 0 that had left\n"
    assert feed_command(*poll).returncode == 0
    assert feed_command("check", BTC, *mirror).returncode == 0
    listed = json.loads(feed_command("mirror", "list", *mirror, "--json").stdout)
    assert [(f["collection_id"], f["name"]) for f in listed] == [(world.other_feed, "Sanctions")]
    unheld = feed_command("mirror", "forget", "hotline", *mirror)
    assert (unheld.returncode, unheld.stderr) == (
        1, f"error: no feed is named 'hotline' in the mirror {mirror[1]}: it holds Sanctions "
        f"({world.other_feed})\n",
    )  # fmt: skip
    feed_command("mirror", "forget", world.other_feed, *mirror, check=True)
    emptied = feed_command("check", BTC, *mirror)
    assert emptied.returncode == 1
    assert f"the mirror {mirror[1]} holds no feed it has polled" in emptied.stderr
