"""Every constrained setting explains itself when refused: the range of a number, an example of a format, the
choices of a choice. Taken from the settings object itself, so a setting added later is held to it too."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args, get_origin

import pytest
from annotated_types import Ge, Gt, Le
from pydantic import AliasChoices
from pydantic.fields import FieldInfo

from bot.settings import NOT_SETTINGS, Settings, SettingsError, load_settings, setting_variables, unknown_variables


def variable(info: FieldInfo) -> str:
    alias = info.validation_alias
    assert isinstance(alias, AliasChoices)
    return str(alias.choices[0])


def numeric(info: FieldInfo) -> bool:
    return bool({int, float} & {info.annotation, *get_args(info.annotation)})


def bounds(info: FieldInfo) -> list[float]:
    return [float(getattr(m, name)) for m in info.metadata for name, kind in (("ge", Ge), ("gt", Gt), ("le", Le))
            if isinstance(m, kind)]


def pattern(info: FieldInfo) -> str | None:
    return next((str(m.pattern) for m in info.metadata if getattr(m, "pattern", None)), None)


FIELDS = Settings.model_fields
NUMBERS = [name for name, info in FIELDS.items() if numeric(info)]
PATTERNS = [name for name, info in FIELDS.items() if pattern(info)]
CHOICES = [name for name, info in FIELDS.items() if get_origin(info.annotation) is Literal]


@pytest.fixture(autouse=True)
def only_what_the_test_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no `.env`
    for name in os.environ:
        if name.startswith(("TROLY_", "TELEGRAM_", "ZALO_")):
            monkeypatch.delenv(name)


def refusal(name: str, value: str) -> str:
    with pytest.raises(SettingsError) as refused:
        load_settings(**{variable(FIELDS[name]): value})
    message = str(refused.value)
    assert not any(regex in message for regex in ("^", "$", "\\d", "[", "mẫu")), message
    return message


def test_the_constrained_settings_are_found() -> None:
    assert {"http_port", "outbox_lease_seconds", "telegram_broadcast_rate"} <= set(NUMBERS)
    assert {"working_hours", "working_days", "holidays", "zalo_site_verification"} <= set(PATTERNS)
    assert {"log_level", "log_format"} <= set(CHOICES)


def show(number: float) -> str:
    return f"{number:g}"


@pytest.mark.parametrize("name", NUMBERS)
def test_a_number_out_of_range_or_not_a_number_is_told_the_range(name: str) -> None:
    info = FIELDS[name]
    limits = bounds(info)
    wrong = ["không phải số", *(show(limit - 1) for limit in limits[:1]), *(show(limit + 1) for limit in limits[1:])]
    for value in wrong:
        message = refusal(name, value)
        assert "cần một số" in message
        for limit in limits:
            assert show(limit) in message, message
        if info.examples:
            assert str(info.examples[0]) in message


@pytest.mark.parametrize("name", PATTERNS)
def test_a_value_of_the_wrong_form_is_shown_an_example(name: str) -> None:
    examples = FIELDS[name].examples
    assert examples, f"{variable(FIELDS[name])} has a pattern but no example to show the operator"
    assert f"cần dạng {examples[0]}" in refusal(name, "?")


@pytest.mark.parametrize("name", CHOICES)
def test_a_value_outside_the_choices_is_told_every_choice(name: str) -> None:
    message = refusal(name, "?")
    for choice in get_args(FIELDS[name].annotation):
        assert choice in message


def test_the_reported_ones_read_as_the_operator_would_write_them() -> None:
    assert refusal("working_hours", "8-17").endswith("không hợp lệ: cần dạng 07:30-17:00.")
    assert refusal("outbox_lease_seconds", "2").endswith("không hợp lệ: cần một số nguyên từ 5 đến 3600.")
    assert refusal("log_level", "LOUD").endswith("cần DEBUG, INFO, WARNING, ERROR hoặc CRITICAL.")
    assert load_settings(TROLY_LOG_LEVEL="debug").log_level == "DEBUG", "lower case has always been accepted"


# ---- a variable no setting reads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("misspelt", "meant"),
    [("TROLY_DATABSE_URL", "TROLY_DATABASE_URL"), ("troly_databse_url", "TROLY_DATABASE_URL"),
     ("TROLY_PORT", "TROLY_HTTP_PORT"), ("TROLY_COMMUNE", "TROLY_COMMUNE_NAME"),
     ("TELEGRAM_TOKEN", "TELEGRAM_BOT_TOKEN"), ("TELEGRAM_CHAT_ID", "TELEGRAM_VOLUNTEER_CHAT_ID"),
     ("TELEGRAM_VOLUNTER_CHAT_ID", "TELEGRAM_VOLUNTEER_CHAT_ID"), ("ZALO_APP_SECRE", "ZALO_APP_SECRET"),
     ("ZALO_SECRET_KEY", "ZALO_OA_SECRET_KEY")],
)
def test_a_misspelt_variable_is_named_with_the_setting_it_was_meant_to_be(
    tmp_path: Path, misspelt: str, meant: str
) -> None:
    [unknown] = unknown_variables({misspelt: "x", "PATH": "/usr/bin"}, tmp_path / ".env")
    assert (unknown.name, unknown.closest) == (misspelt, meant)
    assert unknown.warning() == (f"không nhận ra biến {misspelt} trong môi trường nên đã bỏ qua; "
                                 f"có phải là {meant} không?")


def test_an_unknown_variable_like_no_setting_points_to_the_readme(tmp_path: Path) -> None:
    [unknown] = unknown_variables({"TROLY_TZ": "Asia/Bangkok"}, tmp_path / ".env")
    assert unknown.closest is None and 'README, mục "Cấu hình"' in unknown.warning()


def test_the_env_file_the_settings_read_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("POSTGRES_PASSWORD=bi-mat\nTROLY_COMMUNE_NAME=Phường 7\nTROLY_AREA=Thôn 1\n",
                                   encoding="utf-8")
    [unknown] = unknown_variables({}, Path(".env"))  # where `load_settings` reads it: the working directory
    assert (unknown.name, unknown.closest) == ("TROLY_AREA", "TROLY_AREAS")
    assert "trong tệp .env" in unknown.warning()
    assert [u.name for u in unknown_variables({})] == ["TROLY_AREA"], "by default, the settings' own .env"


def test_what_a_setting_or_the_test_suite_reads_is_not_warned_about(tmp_path: Path) -> None:
    assert "TROLY_DATABASE_URL" in setting_variables() and "ZALO_SITE_VERIFICATION" in setting_variables()
    known = {name: "1" for name in setting_variables()}
    lower = {name.lower(): "1" for name in setting_variables()}  # the settings read them regardless of case
    others = {"POSTGRES_PASSWORD": "x", "PATH": "/usr/bin", "TELEGRAMX": "1"}
    empty = {"TROLY_DATABSE_URL": ""}  # an empty variable is an unset one
    assert unknown_variables({**known, **lower, **dict.fromkeys(NOT_SETTINGS, "1"), **others, **empty},
                             tmp_path / ".env") == []
