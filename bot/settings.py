"""One typed settings object, read from the environment and an optional `.env` file.

The variable names are part of the operator interface in DESIGN.md; they keep their platform prefixes
(TROLY_, TELEGRAM_, ZALO_), so every field names its variable explicitly.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from annotated_types import Ge, Gt, Le
from dotenv import dotenv_values
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The working-time parsers are the ones the handoff uses, so what starts is what is understood later.
from handlers.hours import parse_days, parse_holidays, parse_hours

_WORKING_TIME_PARSERS: dict[str, Callable[[str], object]] = {
    "working_hours": parse_hours, "working_days": parse_days, "holidays": parse_holidays,
}


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def env(name: str, **kwargs: Any) -> Any:
    """A field read from the environment variable `name` (and accepted under that name in code)."""
    return Field(validation_alias=AliasChoices(name), **kwargs)


class Settings(BaseSettings):
    # An empty variable is an unset one: `.env.example` and compose files list every variable with `VAR=`, and
    # `ZALO_OA_SECRET_KEY=` must not enable Zalo with an empty (forgeable) webhook key.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore", frozen=True,
        populate_by_name=True,
    )

    database_url: str = env("TROLY_DATABASE_URL", default="sqlite+aiosqlite:///troly.db")
    http_host: str = env("TROLY_HTTP_HOST", default="127.0.0.1")
    http_port: int = env("TROLY_HTTP_PORT", default=8080, ge=1, le=65535)
    public_url: str | None = env("TROLY_PUBLIC_URL", default=None)
    admin_token: SecretStr | None = env("TROLY_ADMIN_TOKEN", default=None)
    timezone_name: str = env("TROLY_TIMEZONE", default="Asia/Ho_Chi_Minh")
    log_level: LogLevel = env("TROLY_LOG_LEVEL", default="INFO")
    log_format: Literal["json", "text"] = env("TROLY_LOG_FORMAT", default="json")

    # How the assistant speaks and where: STYLE.md makes the term of address a commune's choice.
    commune_name: str = env("TROLY_COMMUNE_NAME", default="UBND xã/phường")
    term_of_address: str = env("TROLY_TERM_OF_ADDRESS", default="anh/chị")
    areas: Annotated[tuple[str, ...], NoDecode] = env(
        "TROLY_AREAS", default=("Tổ dân phố 1", "Tổ dân phố 2", "Tổ dân phố 3", "Thôn 1", "Thôn 2")
    )

    # Volunteer handoff: the resident is told honestly when to expect an answer.
    # A pattern's `examples` (and `description`) are what the operator is told when a value does not match it.
    working_hours: str = env("TROLY_WORKING_HOURS", default="07:30-17:00", pattern=r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}$",
                             examples=["07:30-17:00"])
    working_days: str = env("TROLY_WORKING_DAYS", default="1-6", pattern=r"^[1-7](-[1-7])?(,[1-7](-[1-7])?)*$",
                            examples=["1-6", "1-5,7"], description="1 là thứ Hai, 7 là Chủ nhật")
    holidays: str = env("TROLY_HOLIDAYS", default="", pattern=r"^(\d{4}-\d{2}-\d{2})?(,\d{4}-\d{2}-\d{2})*$",
                        examples=["2026-09-02", "2026-09-02,2027-02-16"])
    handoff_reply_minutes: int = env("TROLY_HANDOFF_REPLY_MINUTES", default=15, ge=1)
    handoff_reannounce_minutes: int = env("TROLY_HANDOFF_REANNOUNCE_MINUTES", default=10, ge=1)
    handoff_raise_minutes: int = env("TROLY_HANDOFF_RAISE_MINUTES", default=30, ge=1)
    handoff_remind_minutes: int = env("TROLY_HANDOFF_REMIND_MINUTES", default=20, ge=1)

    # Abuse guard: inbound messages per resident per minute that get an answer.
    rate_limit_per_minute: int = env("TROLY_RATE_LIMIT_PER_MINUTE", default=20, ge=1)
    # Message texts older than this are deleted (figures and decisions stay for reports).
    retention_days: int = env("TROLY_RETENTION_DAYS", default=180, ge=1)
    # Several processes on PostgreSQL: an outbox worker silent this long is dead; its message in flight becomes
    # `uncertain` and the rows it had claimed go to the others. Short: faster takeover; it must stay well above
    # a process's longest pause (it beats every quarter of it).
    outbox_lease_seconds: int = env("TROLY_OUTBOX_LEASE_SECONDS", default=60, ge=5, le=3600)

    telegram_bot_token: SecretStr | None = env("TELEGRAM_BOT_TOKEN", default=None)
    telegram_api_url: str = env("TELEGRAM_API_URL", default="https://api.telegram.org/bot")
    telegram_webhook_secret: SecretStr | None = env("TELEGRAM_WEBHOOK_SECRET", default=None)
    telegram_volunteer_chat_id: int | None = env("TELEGRAM_VOLUNTEER_CHAT_ID", default=None,
                                                 examples=["-1001234567890"])
    telegram_broadcast_rate: float = env("TELEGRAM_BROADCAST_RATE", default=25.0, gt=0, le=1000)

    zalo_app_id: str | None = env("ZALO_APP_ID", default=None)
    zalo_app_secret: SecretStr | None = env("ZALO_APP_SECRET", default=None)
    zalo_oa_secret_key: SecretStr | None = env("ZALO_OA_SECRET_KEY", default=None)
    zalo_access_token: SecretStr | None = env("ZALO_ACCESS_TOKEN", default=None)
    zalo_refresh_token: SecretStr | None = env("ZALO_REFRESH_TOKEN", default=None)
    # Zalo verifies the webhook's domain by a meta tag on a page we serve (at /zalo-verify.html and /).
    zalo_site_verification: str | None = env("ZALO_SITE_VERIFICATION", default=None, pattern=r"^[A-Za-z0-9_-]+$",
                                             examples=["Ab12_cD-34"],
                                             description="mã Zalo cấp: chỉ chữ không dấu, chữ số, - và _")
    zalo_api_url: str = env("ZALO_API_URL", default="https://openapi.zalo.me")
    zalo_oauth_url: str = env("ZALO_OAUTH_URL", default="https://oauth.zaloapp.com")
    # A campaign reminder Zalo refuses as outside the interaction window (-230/-232) is sent again as a promotion
    # message (tin truyền thông), which reaches any follower but spends the OA's paid quota: the ward decides.
    zalo_promotion_broadcasts: bool = env("ZALO_PROMOTION_BROADCASTS", default=False)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value  # "info" has always worked

    @field_validator("timezone_name")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("cần tên múi giờ IANA, ví dụ Asia/Ho_Chi_Minh") from exc
        return value

    @field_validator(*_WORKING_TIME_PARSERS)
    @classmethod
    def _understood_by_the_handoff(cls, value: str, info: ValidationInfo) -> str:
        """An hour that does not exist, an end before the start, a reversed day range or a date that does not
        exist is refused here rather than at the first handoff."""
        _WORKING_TIME_PARSERS[str(info.field_name)](value)
        return value

    @field_validator("areas", mode="before")
    @classmethod
    def _split_areas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("areas")
    @classmethod
    def _some_area(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:  # residents subscribe by area: with none, they could never subscribe
            raise ValueError("cần ít nhất một thôn/tổ dân phố, cách nhau bằng dấu phẩy")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith(("postgres://", "postgresql://")):
            # Operators paste the URL their provider gives them; we always talk asyncpg.
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + value.split("://", 1)[1]
        return value

    @model_validator(mode="after")
    def _zalo_whole_or_absent(self) -> Settings:
        """Half a Zalo configuration would leave the channel silently off, or unable to verify webhooks or to
        refresh its token (a day later, when the first access token expires)."""
        given = [name for name, value in self._zalo_credentials() if value is not None]
        missing = [name for name, value in self._zalo_credentials()[:3] if value is None]
        if given and missing:
            raise ValueError(f"Zalo cần cả {' và '.join(missing)} (đã có {', '.join(given)})")
        return self

    def _zalo_credentials(self) -> list[tuple[str, object]]:
        # The three the channel cannot work without come first (the token pair may already be stored).
        return [("ZALO_APP_ID", self.zalo_app_id), ("ZALO_OA_SECRET_KEY", self.zalo_oa_secret_key),
                ("ZALO_APP_SECRET", self.zalo_app_secret), ("ZALO_ACCESS_TOKEN", self.zalo_access_token),
                ("ZALO_REFRESH_TOKEN", self.zalo_refresh_token)]

    @cached_property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone_name)

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def telegram_webhook_mode(self) -> bool:
        return self.public_url is not None and self.telegram_webhook_secret is not None

    @property
    def zalo_enabled(self) -> bool:
        return self.zalo_app_id is not None  # with the rest it needs (see _zalo_whole_or_absent)


class OperatorError(Exception):
    """A mistake in how troly is set up or run, not a bug: `troly` prints the message, one line meant for the
    operator, and exits with `exit_code` (2: configuration, 1: something at run time), without a traceback."""

    exit_code = 1


class SettingsError(OperatorError):
    """A setting has a value we cannot use."""

    exit_code = 2


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning a validation failure into one line that names the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        if not error["loc"]:  # a rule across variables; its input is every setting, secrets included
            raise SettingsError(f"Lỗi cấu hình: {_message_of(error)}.") from None
        variable, info = _field_of(str(error["loc"][0]))
        expected = _expected(error, info) if info is not None else _message_of(error)
        raise SettingsError(
            f"Lỗi cấu hình: {variable}={error.get('input')!r} không hợp lệ: {expected}."
        ) from None


def _field_of(name: str) -> tuple[str, FieldInfo | None]:
    """The variable and field behind an error's location (a variable name, or a field name from code)."""
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        variable = str(alias.choices[0]) if isinstance(alias, AliasChoices) else field
        if name in (field, variable):
            return variable, info
    return name, None


def _expected(error: ErrorDetails, info: FieldInfo) -> str:
    """What the variable needs, in the operator's words: the whole rule (a range, an example, the choices), since
    pydantic's own words name the one check that failed, or quote a regular expression."""
    kind = error["type"]
    if kind.startswith(("int_", "float_", "greater_than", "less_than")):
        return _number_rule(info)
    if kind == "string_pattern_mismatch" and info.examples:
        example = "cần dạng " + " hoặc ".join(str(e) for e in info.examples)
        return f"{example} ({info.description})" if info.description else example
    if kind == "literal_error":
        choices = [str(choice) for choice in get_args(info.annotation)]
        return f"cần {', '.join(choices[:-1])} hoặc {choices[-1]}"
    return _message_of(error)


def _message_of(error: ErrorDetails) -> str:
    # Our own validators' messages are Vietnamese already; pydantic prefixes them.
    return error["msg"].removeprefix("Value error, ")


def _number_rule(info: FieldInfo) -> str:
    """"cần một số nguyên từ 5 đến 3600", from the field's own bounds, so the message cannot drift from them."""
    kind = "một số nguyên" if int in (info.annotation, *get_args(info.annotation)) else "một số"
    ge, gt, le = _bound(info, Ge, "ge"), _bound(info, Gt, "gt"), _bound(info, Le, "le")
    if ge is not None:
        rule = f" từ {ge} đến {le}" if le is not None else f" từ {ge} trở lên"
    elif gt is not None:
        rule = f" lớn hơn {gt} và không quá {le}" if le is not None else f" lớn hơn {gt}"
    else:
        rule = f" không quá {le}" if le is not None else ""
    example = f", ví dụ {info.examples[0]}" if info.examples else ""
    return f"cần {kind}{rule}{example}"


def _bound(info: FieldInfo, kind: type[Ge | Gt | Le], name: str) -> str | None:
    """The field's bound of this kind (`ge=5` → "5"), as the operator would write it."""
    for constraint in info.metadata:
        if isinstance(constraint, kind):
            value = getattr(constraint, name)
            return f"{value:g}" if isinstance(value, float) else str(value)
    return None


# ---- variables no setting reads ------------------------------------------------------------------------------

# A misspelt variable (TROLY_DATABSE_URL) is otherwise ignored without a word, and the product runs on a default.
PREFIXES = ("TROLY_", "TELEGRAM_", "ZALO_")
# Ours, but not troly's settings: the test suite's switches (README, "Chạy bộ kiểm thử"), which CI exports.
NOT_SETTINGS = frozenset({"TROLY_REQUIRE_POSTGRES", "TROLY_REQUIRE_BROWSER", "TROLY_FUZZ_EXAMPLES",
                          "TROLY_TEST_PG_HOST", "TROLY_TEST_PG_PORT", "TROLY_TEST_PG_USER"})


@dataclass(frozen=True, slots=True)
class UnknownVariable:
    name: str
    source: str  # "môi trường", or the .env file it was read from
    closest: str | None  # the setting it was most likely meant to be

    def warning(self) -> str:
        """One sentence for the operator (the caller starts it with "Cảnh báo: ", or logs it as a warning)."""
        where = "trong môi trường" if self.source == "môi trường" else f"trong tệp {self.source}"
        hint = (f"có phải là {self.closest} không?" if self.closest is not None
                else 'các biến cấu hình có trong README, mục "Cấu hình".')
        return f"không nhận ra biến {self.name} {where} nên đã bỏ qua; {hint}"


def setting_variables() -> tuple[str, ...]:
    """Every variable a setting reads, as the operator writes it."""
    return tuple(_field_of(field)[0] for field in Settings.model_fields)


def unknown_variables(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> list[UnknownVariable]:
    """The variables with our prefixes, set to something, in the environment or the `.env` file the settings read,
    that no setting reads. Names are compared as the settings read them: without regard to case."""
    environ = os.environ if environ is None else environ
    env_file = Path(str(Settings.model_config.get("env_file"))) if env_file is None else env_file
    known = set(setting_variables()) | NOT_SETTINGS
    found: dict[str, UnknownVariable] = {}
    from_file = dotenv_values(env_file, encoding="utf-8") if env_file.is_file() else {}
    for source, variables in (("môi trường", dict(environ)), (str(env_file), from_file)):
        for name, value in variables.items():
            upper = name.upper()
            if not value or not upper.startswith(PREFIXES) or upper in known or upper in found:
                continue  # an empty variable is an unset one, as for the settings themselves
            found[upper] = UnknownVariable(name, source, _closest(upper))
    return list(found.values())


def _closest(name: str) -> str | None:
    variables = setting_variables()
    prefix = next(p for p in PREFIXES if name.startswith(p))
    bare = name.removeprefix(prefix)
    # A shortened name (TELEGRAM_CHAT_ID) is the one setting of its family that holds it whole.
    holding = [v for v in variables if v.startswith(prefix) and f"_{bare}_" in f"_{v.removeprefix(prefix)}_"]
    if len(holding) == 1:
        return holding[0]
    close = difflib.get_close_matches(name, variables, n=1, cutoff=0.8)
    if not close:  # without the prefixes, which make every TROLY_ name look alike
        bares = {v.removeprefix(next(p for p in PREFIXES if v.startswith(p))): v for v in variables}
        close = [bares[match] for match in difflib.get_close_matches(bare, bares, n=1, cutoff=0.75)]
    return close[0] if close else None
