"""Settings from the FEED_* environment: what is wrong with them is said, naming the variable,
before anything starts; a database that cannot be used is said to be so, without its
password."""

from pathlib import Path

import pytest

from feed.config import Settings
from feed.database import create_engine_for, migrate
from feed.errors import ConfigurationError


@pytest.mark.parametrize(
    ("variables", "said"),
    [
        ({"FEED_PAGE_LIMIT_MAX": "0"}, "FEED_PAGE_LIMIT_MAX: Input should be greater than"),
        ({"FEED_PORT": "http"}, "FEED_PORT: Input should be a valid integer"),
        ({"FEED_LOG_LEVEL": "verbose"}, "FEED_LOG_LEVEL: Input should be 'critical', 'error'"),
        ({"FEED_DATABASE_URL": "mysql://feed@db/feed"}, "FEED_DATABASE_URL: Value error, give "
         "sqlite:///<file> or postgresql://<user>@<host>/<database>, not 'mysql'"),
    ],
)  # fmt: skip
def test_a_wrong_setting_is_named_with_what_is_wrong(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], said: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_environment()
    assert caught.value.description.startswith(said)


def test_a_log_level_is_taken_in_either_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEED_LOG_LEVEL", "DEBUG")
    assert Settings.from_environment().log_level == "debug"


def test_the_default_and_both_databases_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.from_environment().database_url == "sqlite:///feed.db"
    for url in ("postgresql://postgres@127.0.0.1/feed", "postgres://u@h/d", "sqlite:////tmp/f.db"):
        monkeypatch.setenv("FEED_DATABASE_URL", url)
        assert Settings.from_environment().database_url == url


def test_a_database_that_cannot_be_used_is_named_without_its_password(
    database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("sqlite"):
        unusable = f"sqlite:///{tmp_path}/no-such-directory/feed.db"
        shown, reason = unusable, "unable to open database file"
    else:  # trust authentication takes any password; the database is the one missing
        unusable = database_url.replace("postgres@", "postgres:secret@") + "_missing"
        shown = unusable.replace("postgresql://", "postgresql+psycopg://").replace("secret", "***")
        reason = "does not exist"
    engine = create_engine_for(Settings(database_url=unusable))
    with pytest.raises(ConfigurationError) as caught:
        migrate(engine)
    engine.dispose()
    said = caught.value.description
    assert said.startswith(f"cannot use the database {shown}: ")
    assert reason in said
    assert "secret" not in said


# Set by `feed sandbox` from its own options, not by an operator.
_SANDBOX_PLUMBING = {"sandbox", "sandbox_seed", "sandbox_rhythm", "sandbox_indicators"}


def test_every_setting_an_operator_sets_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    undocumented = [
        f"FEED_{name.upper()}"
        for name in Settings.model_fields
        if name not in _SANDBOX_PLUMBING and f"`FEED_{name.upper()}`" not in readme
    ]
    assert undocumented == []
