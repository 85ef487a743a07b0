"""How much work SQLite does for some statements, counted in steps of its virtual machine:
unlike a timing, the count does not depend on the machine, and it grows with every row read."""

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlmodel import Session


@contextmanager
def counting_steps(session: Session) -> Iterator[Callable[[], int]]:
    """Count, in tens, the steps of what `session` runs inside; the count is read by calling
    what this yields."""
    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    driver = session.connection().connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    driver.set_progress_handler(step, 10)
    try:
        yield lambda: steps
    finally:
        driver.set_progress_handler(None, 0)
