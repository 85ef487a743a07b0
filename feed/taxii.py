"""TAXII 2.1 protocol core: media types, timestamps, filters, the pagination cursor and the
resource models. Pure: no I/O, no database.

Invariants:
- every timestamp this server emits has the form YYYY-MM-DDTHH:MM:SS.ffffffZ;
- `date_added` is carried as integer microseconds since the epoch, unique per collection;
- a cursor is only honoured for the exact query, collection and caller it was issued for.
"""

import base64
import hashlib
import hmac
import re
import struct
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from feed.errors import BadRequest, quoted

TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
_TAXII_TYPE = "application/taxii+json"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|\+00:?00)"
)
_OBJECT_ID = re.compile(
    r"[a-z0-9][a-z0-9-]{1,248}[a-z0-9]--"
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_OBJECT_TYPE = re.compile(r"[a-z0-9][a-z0-9-]{1,248}[a-z0-9]")
SPEC_VERSIONS = ("2.0", "2.1")
MAX_REASON = 2000  # characters of the reason an acknowledgement gives for a rejected object
# Values all of a request's match[] filters may list: each is bound in the page's statement,
# and SQLite before 3.32 binds at most 999.
MAX_FILTER_VALUES = 500


# --- media types (section 1.6.8) -------------------------------------------------------------


def _media_ranges(header: str) -> Iterable[tuple[str, dict[str, str]]]:
    for part in header.split(","):
        kind, *raw_params = (piece.strip() for piece in part.split(";"))
        params = {}
        for raw in raw_params:
            name, _, value = raw.partition("=")
            params[name.strip().lower()] = value.strip().strip('"')
        yield kind.lower(), params


def _is_taxii_21(kind: str, params: Mapping[str, str]) -> bool:
    return kind == _TAXII_TYPE and params.get("version", "2.1") == "2.1"


def accepts_taxii(accept: str | None) -> bool:
    """True when an Accept header admits TAXII 2.1 (a bare TAXII type means the latest)."""
    if not accept:
        return False
    return any(
        _is_taxii_21(kind, params) and params.get("q", "1") not in ("0", "0.0", "0.00", "0.000")
        for kind, params in _media_ranges(accept)
    )


def is_taxii_content_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    kind, params = next(iter(_media_ranges(content_type)))
    return _is_taxii_21(kind, params)


# --- timestamps (section 3.5) ----------------------------------------------------------------


def format_timestamp(micros: int) -> str:
    """The one fixed-width form, which sorts as the moments do."""
    seconds, fraction = divmod(micros, 1_000_000)
    return f"{_format_second(seconds)}.{fraction:06d}Z"


# Timestamps come close together (a batch's objects, the clock read for every screening hit),
# and the calendar is most of the cost of formatting one.
@lru_cache(maxsize=64)
def _format_second(seconds: int) -> str:
    """A timestamp to its second, field by field: strftime's %Y gives a year before 1000 fewer
    than four digits."""
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    )


@lru_cache(maxsize=4096)  # the objects of one batch mostly share their timestamps
def parse_timestamp(text: str, *, field: str = "timestamp") -> int:
    """Microseconds since the epoch of an RFC 3339 UTC timestamp. Lenient about precision
    (taxii2-client drops trailing zeros); digits beyond microseconds are truncated."""
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        raise BadRequest(
            f"{field} {quoted(text)} is not a UTC timestamp like 2025-01-31T12:00:00.000000Z"
        )
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = int((match.group(7) or "0").ljust(6, "0")[:6])
    if second > 60:
        raise BadRequest(f"{field} {quoted(text)} is out of range: second must be in 0..60")
    try:  # 60, a leap second, is read as the second before it
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except ValueError as error:
        raise BadRequest(f"{field} {quoted(text)} is out of range: {error}") from None
    return micros_of(moment) + fraction


def micros_of(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def now_micros() -> int:
    return time.time_ns() // 1000  # the clock datetime.now reads, without building one


@lru_cache(maxsize=4096)  # the versions of one batch mostly share their timestamps
def normalise_version(text: str, *, field: str = "version") -> str:
    """A STIX timestamp in the one fixed-width form versions are stored and compared in."""
    return format_timestamp(parse_timestamp(text, field=field))


# --- filters (section 3.4) -------------------------------------------------------------------

VersionSelector = Literal["last", "first", "all"]


@dataclass(frozen=True)
class Filters:
    """The match[] filters and added_after of one request. Empty tuples mean "no filter";
    `versions` holds normalised timestamps, and `version_selector` the keyword form."""

    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    spec_versions: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    version_selector: frozenset[VersionSelector] = frozenset({"last"})
    added_after: int | None = None

    def fingerprint(self) -> bytes:
        parts = (
            ",".join(self.ids),
            ",".join(self.types),
            ",".join(self.spec_versions),
            ",".join(self.versions),
            ",".join(sorted(self.version_selector)),
            str(self.added_after),
        )
        return "|".join(parts).encode()


@dataclass(frozen=True)
class Page:
    limit: int
    after: "Cursor | None"


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"query parameter {name} is given {len(values)} times; give it once")
    return values[0]


def _list(params: Mapping[str, Sequence[str]], name: str) -> tuple[str, ...]:
    raw = _single(params, name)
    if raw is None:
        return ()
    items = tuple(item.strip() for item in raw.split(","))
    if any(not item for item in items):
        raise BadRequest(f"{name} has an empty item in {raw!r}")
    return items


def is_object_id(text: str) -> bool:
    """Whether `text` is a STIX identifier (type--UUID)."""
    return _OBJECT_ID.fullmatch(text) is not None


def parse_filters(params: Mapping[str, Sequence[str]], allowed: Iterable[str]) -> Filters:
    """Filters from query parameters. `allowed` names the match[] fields the endpoint supports
    (plus "added_after"); any other match[] field is a 400, as is any malformed value."""
    allowed = set(allowed)
    for name in params:
        if name.startswith("match[") and name[6:-1] not in allowed:
            raise BadRequest(f"filter {name} is not supported on this endpoint")
    ids = _list(params, "match[id]")
    for object_id in ids:
        if not is_object_id(object_id):
            raise BadRequest(f"match[id] {object_id!r} is not a STIX identifier (type--UUID)")
    types = _list(params, "match[type]")
    for object_type in types:
        if not _OBJECT_TYPE.fullmatch(object_type):
            raise BadRequest(f"match[type] {object_type!r} is not a STIX type name")
    spec_versions = _list(params, "match[spec_version]")
    for spec_version in spec_versions:
        if spec_version not in SPEC_VERSIONS:
            raise BadRequest(f"match[spec_version] {spec_version!r} is not one of 2.0, 2.1")
    selectors: set[VersionSelector] = set()
    versions: list[str] = []
    for item in _list(params, "match[version]"):
        if item in ("last", "first", "all"):
            selectors.add(item)  # type: ignore[arg-type]
        else:
            versions.append(normalise_version(item, field="match[version]"))
    if "all" in selectors and (len(selectors) > 1 or versions):
        raise BadRequest("match[version] 'all' cannot be combined with other values")
    if not selectors and not versions:
        selectors.add("last")
    listed = len(ids) + len(types) + len(spec_versions) + len(versions)
    if listed > MAX_FILTER_VALUES:
        raise BadRequest(
            f"the match[] filters list {listed} values; at most {MAX_FILTER_VALUES} per request"
        )
    raw_added_after = _single(params, "added_after") if "added_after" in allowed else None
    return Filters(
        ids=ids,
        types=types,
        spec_versions=spec_versions,
        versions=tuple(versions),
        version_selector=frozenset(selectors),
        added_after=None
        if raw_added_after is None
        else parse_timestamp(raw_added_after, field="added_after"),
    )


def parse_limit(params: Mapping[str, Sequence[str]], *, default: int, maximum: int) -> int:
    raw = _single(params, "limit")
    if raw is None:
        return min(default, maximum)
    if not raw.isdigit() or int(raw) == 0:
        raise BadRequest(f"limit {raw!r} is not a positive whole number")
    return min(int(raw), maximum)


# --- the pagination cursor -------------------------------------------------------------------

_CURSOR = struct.Struct(">q")
_MAC_BYTES = 16


@dataclass(frozen=True)
class Cursor:
    """A keyset position: the last `date_added` served (unique within a collection). Opaque
    to clients and signed with the server's key over the query scope, so a forged or foreign
    `next` is refused rather than answered."""

    date_added: int

    def encode(self, key: bytes, scope: bytes) -> str:
        payload = _CURSOR.pack(self.date_added)
        mac = hmac.new(key, payload + scope, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode()

    @classmethod
    def decode(cls, token: str, key: bytes, scope: bytes) -> "Cursor":
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            raw = b""
        if len(raw) != _CURSOR.size + _MAC_BYTES:
            raise BadRequest("next is not a cursor issued by this server")
        payload, mac = raw[: _CURSOR.size], raw[_CURSOR.size :]
        expected = hmac.new(key, payload + scope, hashlib.sha256).digest()[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            raise BadRequest("next was not issued for this query, collection and caller")
        (date_added,) = _CURSOR.unpack(payload)
        return cls(date_added)


def cursor_scope(endpoint: str, collection_id: str, caller: str, filters: Filters) -> bytes:
    return b"\x00".join(
        (endpoint.encode(), collection_id.encode(), caller.encode(), filters.fingerprint())
    )


def parse_page(
    params: Mapping[str, Sequence[str]],
    *,
    key: bytes,
    scope: bytes,
    default: int,
    maximum: int,
) -> Page:
    token = _single(params, "next")
    return Page(
        limit=parse_limit(params, default=default, maximum=maximum),
        after=None if token is None else Cursor.decode(token, key, scope),
    )


# --- resources (sections 4 and 5) ------------------------------------------------------------


def reports_alias(feed: str) -> str:
    """The alias of a feed's reports collection, by the feed's alias or, where it has none,
    its id: the server names the collection so, and clients find it by that name."""
    return f"{feed}-reports"


class Resource(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Discovery(Resource):
    title: str
    description: str | None = None
    contact: str | None = None
    default: str | None = None
    api_roots: list[str] = []


class ApiRoot(Resource):
    title: str
    description: str | None = None
    versions: list[str]
    max_content_length: int


class CollectionResource(Resource):
    id: str
    title: str
    description: str | None = None
    alias: str | None = None
    can_read: bool
    can_write: bool
    media_types: list[str] = [STIX_MEDIA_TYPE]


class Collections(Resource):
    collections: list[CollectionResource] | None = None


class PostedEnvelope(BaseModel):
    """An envelope as a client posts it (section 5.4): at least one object. Other members are
    ignored, as an extension of TAXII may add some."""

    objects: list[dict[str, Any]] = Field(min_length=1)


class StatusDetail(Resource):
    id: str
    version: str
    message: str | None = None


class Status(Resource):
    id: str
    status: Literal["complete", "pending"]
    request_timestamp: str | None = None
    total_count: int
    success_count: int
    successes: list[StatusDetail] | None = None
    failure_count: int
    failures: list[StatusDetail] | None = None
    pending_count: int
    pendings: list[StatusDetail] | None = None


class ManifestRecord(Resource):
    id: str
    date_added: str
    version: str
    media_type: str = STIX_MEDIA_TYPE


def dump_model(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)
