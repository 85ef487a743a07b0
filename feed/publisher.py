"""The watchdog's side: rows of flagged addresses -> indicators -> TAXII POST.

Each row is validated on its own; a bad row is reported with its line number and never stops
the others. The plan compares every row with what the feed already holds, so publishing the
same rows again posts nothing, and only real changes become new versions. A publisher that
replaces a whole list (`replace_source`) revokes that source's indicators the list no longer
names: never one a rejected row names, none while a rejected row's address cannot be read, and
none on the word of a list with no row at all. Nor more than a tenth of the list at once unless
told (`max_revoked`): revoking tells every exchange to let those addresses' payments through,
and an export that came out short would revoke most of a list."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from feed.addresses import Address, parse_address
from feed.client import FeedClient
from feed.envelope import ENVELOPE_OVERHEAD
from feed.errors import (
    ConfigurationError,
    FeedError,
    InvalidObject,
    counted,
    describe_problems,
)
from feed.indicators import Flag, build_indicator, revoke_indicator
from feed.publisher_rows import Action, NumberedRow, Row
from feed.stix import flagged_address

# A run that replaces a list revokes up to this many of it unasked, however short the list.
_FEWEST_REVOKED_UNASKED = 10


@dataclass(frozen=True)
class Rejection:
    line: int
    address: str
    reason: str
    where: str = ""

    @property
    def place(self) -> str:
        """Where the rejected input is: its line, or what else locates it."""
        return self.where or _place(self.line)


@dataclass(frozen=True)
class Planned:
    """A new version to post, and the line that asked for it (0: a list replacement), or
    what else locates that row."""

    line: int
    kind: str
    address: str
    indicator: dict[str, Any]
    where: str = ""

    @property
    def place(self) -> str:
        return self.where or _place(self.line)


def _place(line: int) -> str:
    """A row's line, or "delisting" for what a replaced list no longer names (line 0)."""
    return f"line {line}" if line else "delisting"


@dataclass
class Plan:
    versions: list[Planned] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("new", "updated", "unchanged", "revoked"), 0)
    )
    rejected: list[Rejection] = field(default_factory=list)
    # Indicators a replaced list no longer names, left alone: a row whose address could not
    # be read may have meant any of them.
    withheld: int = 0
    places: Mapping[int, str] = field(default_factory=dict)


@dataclass
class _Known:
    """The publisher's indicators of one (chain, address): the live one, and how many there
    have been (a revoked indicator is final, so flagging again starts a new generation)."""

    live: dict[str, Any] | None = None
    generations: int = 0
    line: int | None = None  # of the row that claimed the address
    named: bool = False  # by a row, taken or rejected: a replaced list keeps it


def plan(
    rows: Iterable[NumberedRow],
    existing: Iterable[dict[str, Any]],
    author: str,
    now: datetime | None = None,
    replace_source: str | None = None,
    places: Mapping[int, str] | None = None,
    max_revoked: int | None = None,
) -> Plan:
    """What to post so that the feed says what `rows` say, given its current `existing`
    indicators (latest versions) by `author`. A row is named by its line, or by its entry
    in `places` where the rows were not read from lines (a list converted from XML)."""
    now = now or datetime.now(UTC)
    known: dict[tuple[str, str], _Known] = {}
    for indicator in existing:
        address = _address_of_ours(indicator, author)
        if address is not None:
            entry = known.setdefault((address.chain.caip2, address.key), _Known())
            entry.generations += 1
            if not indicator.get("revoked"):
                entry.live = indicator
    result = Plan(places=places or {})
    unread = False  # some rejected row's address could not be read
    given = 0
    for line, fields in rows:
        given += 1
        try:
            _plan_row(result, known, line, fields, author, now)
        except FeedError as error:
            text = str(fields.get("address", "")) if isinstance(fields, dict) else ""
            reason = error.description.removeprefix(f"{text.strip()}: ")
            result.rejected.append(Rejection(line, text, reason, result.places.get(line, "")))
            named = _named(known, fields)
            if named is None:
                unread = True
            else:  # a typo in another column is no reason to revoke the address
                named.named = True
    if replace_source is not None:
        unlisted = [
            entry.live
            for entry in known.values()
            if entry.live is not None and not entry.named and _source(entry.live) == replace_source
        ]
        if not given and unlisted:  # an export that came out empty, more often than not
            raise ConfigurationError(
                f"the file names no address, so as the whole list {replace_source!r} it would "
                f"revoke all {counted(len(unlisted), 'indicator')} of it; to retire the list, "
                "publish its addresses with action revoke"
            )
        if unread:
            result.withheld = len(unlisted)
        else:
            _check_revoking(unlisted, known, replace_source, max_revoked)
        for live in [] if unread else unlisted:
            _add(result, 0, "revoked", revoke_indicator(live, now))
    return result


def _check_revoking(
    unlisted: list[dict[str, Any]],
    known: dict[tuple[str, str], _Known],
    source: str,
    max_revoked: int | None,
) -> None:
    """Refuse to revoke more of the list `source` than `max_revoked`, by default a tenth of
    its live indicators (at least ten)."""
    listed = sum(1 for e in known.values() if e.live is not None and _source(e.live) == source)
    most = max(_FEWEST_REVOKED_UNASKED, listed // 10) if max_revoked is None else max_revoked
    if len(unlisted) > most:
        raise ConfigurationError(
            f"as the whole list {source!r} the file would revoke {len(unlisted):,} of its "
            f"{counted(listed, 'indicator')}, more than the {most:,} a run revokes unless "
            f"--max-revoked allows more: an export that came out short would do this. Check the "
            f"file; --dry-run --max-revoked {len(unlisted)} lists them"
        )


def _named(known: dict[tuple[str, str], _Known], fields: dict[str, Any] | str) -> _Known | None:
    """The publisher's indicators of the address a rejected row names; None where the
    address cannot be read."""
    if not isinstance(fields, dict):
        return None
    text, chain = fields.get("address"), fields.get("chain")
    if not isinstance(text, str) or not isinstance(chain, str | None):
        return None
    try:
        address = parse_address(text, chain.strip() if chain else None)
    except FeedError:
        return None
    return known.setdefault((address.chain.caip2, address.key), _Known())


def _address_of_ours(indicator: dict[str, Any], author: str) -> Address | None:
    """The address one of `author`'s indicators flags; None for others' indicators, and for
    one whose extension no longer passes the server's checks (a row for its address posts a
    version that does: its id is the same)."""
    if indicator.get("created_by_ref") != author:
        return None
    try:
        return flagged_address(indicator)
    except InvalidObject:
        return None


def _add(result: Plan, line: int, kind: str, indicator: dict[str, Any]) -> None:
    address = indicator["pattern"].split("'")[1]
    result.versions.append(Planned(line, kind, address, indicator, result.places.get(line, "")))
    result.counts[kind] += 1


def _source(indicator: dict[str, Any]) -> str | None:
    extensions = indicator.get("extensions", {})
    return next((e.get("source") for e in extensions.values() if "source" in e), None)


def _plan_row(
    result: Plan,
    known: dict[tuple[str, str], _Known],
    line: int,
    fields: dict[str, Any] | str,
    author: str,
    now: datetime,
) -> None:
    if isinstance(fields, str):
        raise ConfigurationError(fields)
    try:
        row = Row.model_validate(fields)
    except ValidationError as error:
        raise ConfigurationError(describe_problems(error.errors(), "row")) from None
    address = parse_address(row.address, row.chain)
    entry = known.setdefault((address.chain.caip2, address.key), _Known())
    if entry.line is not None:
        raise ConfigurationError(f"{address.canonical} is already on line {entry.line}")
    _apply(result, entry, line, row, address, author, now)
    entry.line = line  # only a row that was accepted claims its address
    entry.named = True


def _apply(
    result: Plan,
    entry: _Known,
    line: int,
    row: Row,
    address: Address,
    author: str,
    now: datetime,
) -> None:
    if row.action is Action.REVOKE:
        if entry.live is None:
            if not entry.generations:
                raise ConfigurationError(f"{address.canonical} is not flagged in this feed")
            result.counts["unchanged"] += 1
            return
        _add(result, line, "revoked", revoke_indicator(entry.live, now))
        return
    if row.category is None:
        raise ConfigurationError("category: needed to flag an address")
    flag = Flag(
        address=address,
        category=row.category,
        confidence=row.confidence,
        valid_until=row.valid_until,
        description=row.description,
        reference=row.reference,
        tlp=row.tlp,
        asset=row.asset,
        source=row.source,
    )
    indicator = build_indicator(flag, author, now, entry.live, generation=entry.generations)
    if indicator is None:
        result.counts["unchanged"] += 1
        return
    _add(result, line, "updated" if entry.live else "new", indicator)


@dataclass(frozen=True)
class Summary:
    feed: str
    counts: dict[str, int]
    rejected: list[Rejection]
    withheld: int = 0  # see Plan.withheld
    # None once posted; unposted (a dry run), the versions that would have been.
    unposted: list[Planned] | None = None

    def as_dict(self) -> dict[str, Any]:
        planned = {} if self.unposted is None else {
            "posted": False,
            "planned": [
                {"where": p.place, "line": p.line, "kind": p.kind, "address": p.address}
                for p in self.unposted
            ],
        }  # fmt: skip
        return {
            "feed": self.feed,
            **self.counts,
            "withheld": self.withheld,
            "rejected": [
                {"where": r.place, "line": r.line, "address": r.address, "reason": r.reason}
                for r in self.rejected
            ],
            **planned,
        }


@dataclass
class Prepared:
    """A plan checked against the server's limits: what to post, and what was already refused."""

    plan: Plan
    to_post: dict[str, Planned]


def prepare(
    client: FeedClient,
    rows: Iterable[NumberedRow],
    replace_source: str | None = None,
    places: Mapping[int, str] | None = None,
    max_revoked: int | None = None,
) -> Prepared:
    """Plan `rows` (named by `places`, as `plan` does) against the feed's current indicators
    by this organisation."""
    author = client.identity()["id"]
    existing = client.objects(type="indicator")
    result = plan(
        rows, existing, author, replace_source=replace_source, places=places,
        max_revoked=max_revoked,
    )  # fmt: skip
    limit = client.max_content_length
    to_post: dict[str, Planned] = {}
    for planned in result.versions:
        size = len(orjson.dumps(planned.indicator))
        if ENVELOPE_OVERHEAD + size > limit:
            _reject(result, planned, f"its indicator is {size} bytes; the server takes {limit}")
        else:
            to_post[planned.indicator["id"]] = planned
    return Prepared(result, to_post)


def send(
    client: FeedClient, prepared: Prepared, progress: Callable[[int], None] | None = None
) -> Summary:
    """Post the planned versions and account for every row: what the server refused moves
    from its count to the rejected list."""
    result, to_post = prepared.plan, prepared.to_post
    serialised = [orjson.dumps(planned.indicator) for planned in to_post.values()]
    for outcome in client.post(serialised, progress=progress) if serialised else []:
        if outcome.failure is not None and outcome.object_id in to_post:
            _reject(result, to_post[outcome.object_id], f"server: {outcome.failure}")
    return summarise(client, prepared, posted=True)


def summarise(client: FeedClient, prepared: Prepared, *, posted: bool) -> Summary:
    """What publishing did; or, not `posted` (a dry run), what it would do, all but what the
    server itself would refuse."""
    result = prepared.plan
    result.rejected.sort(key=lambda rejection: rejection.line)
    feed = client.collection.alias or client.collection.id
    unposted = None if posted else list(prepared.to_post.values())
    return Summary(feed, result.counts, result.rejected, result.withheld, unposted)


def _reject(result: Plan, planned: Planned, reason: str) -> None:
    result.counts[planned.kind] -= 1
    result.rejected.append(Rejection(planned.line, planned.address, reason, planned.where))
