"""The `feed` command. An edge: it wires settings, the store, the server and the clients
together; each module registers its commands on the one group, which imports a module only
when one of its commands runs."""

from feed.cli.base import main

__all__ = ["main"]
