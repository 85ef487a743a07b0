"""The one exception tree. Every error the server raises maps to a TAXII 2.1 error body
(section 3.6.1): `title` always, `http_status` as a string equal to the HTTP code."""

from collections.abc import Iterable, Mapping
from typing import Any


class FeedError(Exception):
    """Base of every error this project raises on purpose."""

    http_status = 500
    title = "Internal error"

    def __init__(self, description: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.details = details

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "title": self.title,
            "description": self.description,
            "http_status": str(self.http_status),
        }
        if self.details:
            body["details"] = self.details
        return body

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(FeedError):
    http_status = 400
    title = "Bad request"


class InvalidAddress(BadRequest):
    """An address that is not valid on its chain; `problem` names the kind of fault."""

    title = "Invalid address"

    def __init__(self, problem: str, description: str) -> None:
        super().__init__(description, details={"problem": problem})
        self.problem = problem


class Unauthorized(FeedError):
    http_status = 401
    title = "Authentication required"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="feed", charset="UTF-8"'}


class Forbidden(FeedError):
    http_status = 403
    title = "Forbidden"


class NotFound(FeedError):
    http_status = 404
    title = "Not found"


class MethodNotAllowed(FeedError):
    http_status = 405
    title = "Method not allowed"


class NotAcceptable(FeedError):
    http_status = 406
    title = "Not acceptable"


class RequestTimeout(FeedError):
    http_status = 408
    title = "Request body too slow"


class PayloadTooLarge(FeedError):
    http_status = 413
    title = "Request body too large"


class UnsupportedMediaType(FeedError):
    http_status = 415
    title = "Unsupported media type"


class TooManyRequests(FeedError):
    http_status = 429
    title = "Too many requests"

    def __init__(self, description: str, *, retry_after: int) -> None:
        super().__init__(description)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class Unavailable(FeedError):
    http_status = 503
    title = "Service unavailable"

    def __init__(self, description: str, *, retry_after: int = 5) -> None:
        super().__init__(description)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RemoteError(FeedError):
    """A TAXII server refused a request or could not be reached; the message says which."""

    title = "Remote server error"

    def __init__(self, description: str, *, status: int | None = None) -> None:
        super().__init__(description)
        self.status = status


class ConfigurationError(FeedError):
    """A command-line or setup mistake, reported to the operator without a traceback."""

    title = "Configuration error"


class MirrorError(FeedError):
    """The exchange's local mirror could not be read or written: another process held it for
    writing too long, the disk is full, the file is damaged. The message names the mirror."""

    title = "Mirror error"


class InvalidObject(FeedError):
    """One posted object that cannot be stored; reported as a failure in its status."""

    http_status = 422
    title = "Invalid STIX object"


def describe_problems(problems: Iterable[Mapping[str, Any]], whole: str) -> str:
    """Validation errors (pydantic's `errors()`) as one line, each with where it is: a dotted
    field path, or `whole` for the input as a whole."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or whole}: {problem['msg']}"
        for problem in problems
    )


def clipped(text: str, limit: int = 60) -> str:
    """`text` cut to `limit` characters, the last three "...", where it is longer: what a
    message repeats of its input, which can be megabytes long."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quoted(value: object, limit: int = 60) -> str:
    """`value` as a refusal quotes it: its repr, clipped."""
    return clipped(repr(value), limit)


def counted(count: int, noun: str) -> str:
    """`count` and `noun`, plural unless one: "1 byte", "0 bytes", "1,013 rows"."""
    return f"{count} {noun}" if count == 1 else f"{count:,} {noun}s"


def with_article(noun: str) -> str:
    """`noun` after "a" or "an": "an Ethereum", "a Bitcoin", "an XRP" (read ex-)."""
    return f"an {noun}" if noun[:1] in "AEIOUXaeiou" else f"a {noun}"
