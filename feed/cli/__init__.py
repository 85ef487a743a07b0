"""The `feed` command. An edge: it wires settings, the store, the server and the clients
together; each module registers its commands on the one group."""

from feed.cli import admin, exchange, server, watchdog
from feed.cli.base import main

__all__ = ["admin", "exchange", "main", "server", "watchdog"]
