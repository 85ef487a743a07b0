"""Settings, read from FEED_* environment variables when asked for, never at import."""

from typing import Literal, Self

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from feed.errors import ConfigurationError

DATABASE_SCHEMES = ("sqlite://", "postgresql://", "postgres://", "postgresql+psycopg://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FEED_", frozen=True)

    database_url: str = "sqlite:///feed.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    # Seconds a worker process may leave the supervisor's question unanswered (its event loop
    # is stuck) before it is killed and replaced; asked once it has been quiet for half as
    # long. Only with several workers.
    worker_stall_seconds: float = Field(default=10.0, gt=0)
    title: str = "Flagged-address feed"
    contact: str | None = None
    max_content_length: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_objects_per_request: int = Field(default=10_000, ge=1)
    # Seconds a client has to send a request's headers, and its body: a stalled client must
    # not hold a connection or a worker.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    page_limit_default: int = Field(default=1000, ge=1)
    page_limit_max: int = Field(default=10000, ge=1)
    status_ttl_hours: float = Field(default=24.0, ge=24.0)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # Requests per organisation per minute, over all server processes; 0 turns the limit off.
    rate_limit_per_minute: int = Field(default=6000, ge=0)
    # The sandbox: synthetic data, demo organisations and a simulated watchdog.
    sandbox: bool = False
    sandbox_seed: int = 1
    sandbox_rhythm: float = Field(default=5.0, gt=0)
    sandbox_indicators: int = Field(default=200, ge=1)

    @classmethod
    def from_environment(cls) -> Self:
        """The settings of the FEED_* environment; a ConfigurationError names each variable
        that is wrong and why."""
        try:
            return cls()
        except ValidationError as error:
            problems = "; ".join(
                f"FEED_{'_'.join(map(str, problem['loc'])).upper()}: {problem['msg']}"
                for problem in error.errors()
            )
            raise ConfigurationError(problems) from None

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_either_case(cls, level: object) -> object:
        return level.lower() if isinstance(level, str) else level

    @field_validator("database_url")
    @classmethod
    def _a_database_this_project_runs_on(cls, url: str) -> str:
        if not url.startswith(DATABASE_SCHEMES):
            raise ValueError(
                "give sqlite:///<file> or postgresql://<user>@<host>/<database>, not "
                f"{url.partition('://')[0] or url!r}"
            )
        return url

    @property
    def status_ttl_micros(self) -> int:
        return int(self.status_ttl_hours * 3600 * 1_000_000)

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver this project ships (psycopg 3 for PostgreSQL)."""
        for prefix in ("postgresql://", "postgres://"):
            if self.database_url.startswith(prefix):
                return "postgresql+psycopg://" + self.database_url[len(prefix) :]
        return self.database_url
