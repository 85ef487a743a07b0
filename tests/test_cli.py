"""The `feed` group: every command is found in the module it names, and the exchange's
commands start without the server's database layer."""

import importlib
import pkgutil
import subprocess
import sys

import click

import feed.cli
from feed.cli.base import COMMAND_MODULES, main


def test_each_command_is_registered_by_the_module_it_is_listed_under() -> None:
    for module in pkgutil.iter_modules(feed.cli.__path__):
        if module.name != "__main__":  # it runs the command line
            importlib.import_module(f"feed.cli.{module.name}")
    registered = {
        name: command.callback.__module__.removeprefix("feed.cli.")
        for name, command in main.commands.items()
        if command.callback is not None
    }
    assert registered == COMMAND_MODULES


def test_every_command_is_listed_in_help() -> None:
    context = click.Context(main)
    assert main.list_commands(context) == sorted(COMMAND_MODULES)
    assert all(main.get_command(context, name) for name in COMMAND_MODULES)


def test_screening_commands_start_without_the_database_layer() -> None:
    probe = (
        "import sys\n"
        "from feed.cli import main\n"
        "for command in ('check', 'screen', 'poll'):\n"
        "    main([command, '--help'], standalone_mode=False)\n"
        "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'uvicorn') if m in sys.modules))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert shown.stdout.splitlines()[-1] == "[]"
