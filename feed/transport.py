"""The HTTP beneath the TAXII client: a deadline on every request, and what kept an answer
away said in a few words.

requests sets no timeout and taxii2-client passes none, so without a deadline a server that
takes a connection and never answers would hold a poller for ever."""

from collections.abc import Mapping

import requests
from requests.adapters import HTTPAdapter

# Seconds to connect, and to wait for an answer: a server answers a page in milliseconds and
# stores an envelope of 1,000 objects in well under a second, even loaded.
CONNECT_TIMEOUT = 10.0
ANSWER_TIMEOUT = 60.0


class _Deadline(HTTPAdapter):
    """Gives every request of a session the deadline, unless it has one."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = (min(CONNECT_TIMEOUT, timeout), timeout)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        return super().send(request, stream, timeout or self.timeout, verify, cert, proxies)


def bounded(session: requests.Session, timeout: float) -> None:
    """Give every request `session` makes `timeout` seconds to answer (and at most
    CONNECT_TIMEOUT to connect)."""
    deadline = _Deadline(timeout)
    session.mount("http://", deadline)
    session.mount("https://", deadline)


def unreachable(error: requests.RequestException) -> str:
    """Why a request got no answer, in a few words: the timeout, or the operating system's
    reason (connection refused, name not known) beneath the layers requests wraps it in."""
    if isinstance(error, requests.Timeout):
        return "no answer in time (connect or answer timeout)"
    cause: object = error
    for _ in range(10):  # requests -> urllib3's retries -> its connection error -> the OS's
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        if not isinstance(cause, BaseException):
            break
        cause = getattr(cause, "reason", None) or cause.__cause__ or next(iter(cause.args), None)
    return str(error)


def described(error: requests.HTTPError) -> str:
    """A refusal as "STATUS from URL: title: description", from the TAXII error body."""
    response = error.response
    if response is None:
        return str(error)
    try:
        body = response.json()
        detail = f"{body.get('title', '')}: {body.get('description', '')}".strip(": ")
    except ValueError:
        detail = response.text[:200]
    return f"{response.status_code} from {response.url}: {detail}"
