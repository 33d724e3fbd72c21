"""The `troly` command speaks to the ward's IT officer in Vietnamese and catches obvious mistakes: argparse's own
words (help, usage errors), the `eval` report, a role granted to an id no user can have, and `faq check` on an
installed copy that has no ../shared. Run as the operator runs it: real `troly` processes, or `main()` itself."""

from __future__ import annotations

import argparse
import inspect
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.channels.webchat import external_id
from bot.cli import _ARGUMENT_MESSAGES, _PARSER_MESSAGES, _parser
from bot.cli import main as troly_main
from faq.content import load_content
from faq.evaluate import evaluate, load_labelled
from faq.matcher import Matcher
from tests.conftest import free_port
from tests.test_operator_errors import one_line, troly

REPO = Path(__file__).resolve().parent.parent
DEV = REPO.parent / "shared" / "eval" / "dev.jsonl"
UNSEEN = Path(__file__).resolve().parent / "fixtures" / "unseen.jsonl"
TOPICS = REPO.parent / "shared" / "faq" / "topics.yaml"

# What argparse (and the old eval report) would have said in English.
ENGLISH = re.compile(r"\b(usage|options|positional|arguments?|error|invalid|required|choose|expected|unrecognized|"
                     r"ambiguous|ignored|show this help|style|overall|resolved|wrong|failures|want|share of|nothing)\b",
                     re.IGNORECASE)


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        troly_main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


# ---- argparse's own words ----------------------------------------------------------------------------------------


def every_command(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and action of `troly` (`()`, `("db",)`, `("db", "upgrade")`…), so a new one is held to it too."""
    found = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += every_command(sub, (*path, name))
    return found


COMMANDS = every_command(_parser())


def test_every_command_is_found() -> None:
    assert {(), ("serve",), ("eval",), ("db", "downgrade"), ("role", "grant"), ("campaign", "create")} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "troly")
def test_the_help_of_every_command_is_in_vietnamese(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    code, out, err = run_main([*command, "--help"], capsys)
    assert code == 0 and err == ""
    assert out.startswith(f"Cách dùng: {' '.join(('troly', *command))}"), out
    assert "-h, --help" in out and "hiện hướng dẫn này rồi thoát" in out and "tuỳ chọn:" in out
    assert not ENGLISH.search(out), out


def test_troly_help_in_a_real_process_lists_the_commands_in_vietnamese(tmp_path: Path) -> None:
    result = troly(tmp_path, "--help")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("Cách dùng: troly [-h] LỆNH ...")
    assert "lệnh:" in result.stdout and "serve" in result.stdout and "usage" not in result.stdout


@pytest.mark.parametrize(
    ("args", "said", "help_of"),
    [(["role", "grant", "admin", "telegram:1"], "role phải là volunteer hoặc staff, không phải 'admin'",
      "troly role grant"),
     (["role", "grant"], "thiếu tham số role và KÊNH:MÃ", "troly role grant"),
     (["serv"], "không có lệnh 'serv'; có phải là serve không?", "troly"),
     (["role", "grnt"], "không có lệnh 'grnt'; có phải là grant không?", "troly role"),
     (["audit", "--limit", "abc"], "--limit cần một số nguyên, không phải 'abc'", "troly audit"),
     (["faq", "accept", "mot"], "proposal_id cần một số nguyên, không phải 'mot'", "troly faq accept"),
     (["campaign", "create", "--title"], "--title cần một giá trị đi kèm", "troly campaign create"),
     (["campaign", "create", "--text", "Họp"], "thiếu tham số --title", "troly campaign create"),
     (["campaign", "create", "--link", "x"], "chưa rõ --link là --link-url hay --link-title", "troly campaign create"),
     (["db", "downgrade"], "thiếu tham số revision", "troly db downgrade"),
     (["db", "downgrade", "base", "--yes=1"], "--yes không nhận giá trị, hãy bỏ '1'", "troly db downgrade"),
     # An argument no command takes: the hint names the command it was given to, not the top level.
     (["chat", "--ban"], "không nhận ra tham số --ban", "troly chat"),
     (["chat", "thêm"], "không nhận ra tham số thêm", "troly chat"),
     (["faq", "check", "--nope"], "không nhận ra tham số --nope", "troly faq check"),
     (["campaign", "list", "--all", "x"], "không nhận ra tham số --all x", "troly campaign list"),
     (["db", "--nope"], "không nhận ra tham số --nope", "troly db"),
     (["--nope"], "không nhận ra tham số --nope", "troly")],
)
def test_a_usage_mistake_is_one_vietnamese_line_with_a_hint_to_help(
    tmp_path: Path, args: list[str], said: str, help_of: str
) -> None:
    result = troly(tmp_path, *args)
    assert result.returncode == 2 and result.stdout == ""
    line = one_line(result)
    assert line.startswith("Lỗi: ") and said in line, line
    assert line.endswith(f"Xem cách dùng: {help_of} --help"), line
    assert not ENGLISH.search(line), line


def test_an_unknown_option_in_main_names_the_subcommand_and_a_group_alone_shows_its_help(
    capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(["faq", "check", "--nope"], capsys)
    assert code == 2 and out == ""
    assert err == "Lỗi: không nhận ra tham số --nope. Xem cách dùng: troly faq check --help\n"
    code, out, err = run_main(["db"], capsys)
    assert code == 2 and err == "" and out.startswith("Cách dùng: troly db [-h] LỆNH ...") and "upgrade" in out


def test_every_argparse_message_we_translate_is_one_this_python_says() -> None:
    """argparse's words are matched back to its msgids; a Python that rewords one must fail here, not in front of
    an operator (who would then read the English)."""
    source = inspect.getsource(argparse)
    for msgid in (*_PARSER_MESSAGES, *_ARGUMENT_MESSAGES):
        assert repr(msgid) in source or f'"{msgid}"' in source, msgid


# ---- troly eval --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("labelled", [UNSEEN, DEV], ids=["unseen", "dev"])
def test_eval_reports_in_vietnamese_with_the_matchers_own_figures(tmp_path: Path, labelled: Path) -> None:
    if not labelled.exists():
        pytest.skip(f"{labelled} not found")
    result = troly(tmp_path, "eval", str(labelled))
    assert result.returncode == 0, result.stderr
    overall = evaluate(Matcher.build(load_content().entries), load_labelled(labelled)).overall
    lines = result.stdout.splitlines()
    assert lines[0] == (f"{overall.total} câu: top1 {overall.top1_rate:.3f}, top3 {overall.top3_rate:.3f}, "
                        f"giải quyết {overall.resolved_rate:.3f}, {overall.wrong_answers} câu trả lời sai, "
                        f"{overall.oos_escalated}/{overall.out_of_scope} câu ngoài hỏi đáp được chuyển cho người.")
    table = next(line for line in lines if line.startswith("tất cả "))
    assert table.split()[2:7] == [str(overall.total), f"{overall.top1_rate:.3f}", f"{overall.top3_rate:.3f}",
                                  f"{overall.resolved_rate:.3f}", f"{overall.wrong_answer_rate:.3f}"]
    # The failures quote the residents' questions and the FAQ's ids ("pay.wrong-transfer"): only the rest is read.
    words, _, failures = result.stdout.partition("Các câu chưa đạt")
    assert not ENGLISH.search(words), words
    for line in failures.splitlines()[1::2]:
        assert line.startswith("- [") and ": cần " in line and not ENGLISH.search(line.split(": cần ")[0]), line


def test_eval_on_a_line_that_is_not_a_labelled_question_is_one_line(tmp_path: Path) -> None:
    labelled = tmp_path / "nhan.jsonl"
    labelled.write_text('{"q": "quên mật khẩu vneid", "topic": "vneid.password.forgot"}\nkhông phải JSON\n',
                        encoding="utf-8")
    result = troly(tmp_path, "eval", str(labelled))
    assert result.returncode == 2
    line = one_line(result)
    assert line.startswith("Lỗi: ") and "dòng 2" in line and str(labelled) in line


# ---- troly role grant: ids no user of the channel can have -------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "said"),
    [("telegram:abc", "mã người dùng Telegram là một số nguyên dương"),
     ("telegram:@bich_ngoc", "là tên người dùng Telegram"),
     ("telegram:-1001234567890", "là mã một nhóm Telegram"),
     ("telegram:0912345678", "giống số điện thoại"),
     ("telegram:0", "một số nguyên dương"),
     ("telegram:12.5", "một số nguyên dương"),
     ("telegram:١٢٣", "một số nguyên dương"),
     ("zalo:nguyen-van-a", "mã người dùng Zalo là một dãy chữ số"),
     ("zalo:+84912345678", "giống số điện thoại"),
     ("web:abc", "mã người dùng web"),
     (f"web:{secrets.token_urlsafe(24)}", "mã người dùng web")],  # a cookie: the chat is known by its hash
)
def test_role_grant_refuses_an_id_no_user_of_the_channel_has(tmp_path: Path, address: str, said: str) -> None:
    result = troly(tmp_path, "role", "grant", "volunteer", address)
    assert result.returncode == 2 and result.stdout == ""
    line = one_line(result)
    assert line.startswith("Lỗi: ") and said in line, line
    assert not (tmp_path / "troly.db").exists(), "refused before the database is opened"


def test_role_grant_takes_every_real_id_and_revoke_still_takes_any(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TROLY_DATABASE_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)
    real = ["telegram:123456789", "telegram:7012345678", "zalo:2468458835296117922",
            f"web:{external_id(secrets.token_urlsafe(24))}", "console:local"]
    for address in real:
        code, out, err = run_main(["role", "grant", "staff", address], capsys)
        assert code == 0 and out.strip() == f"Đã cấp vai trò staff cho {address}", err
    # Telegram writes ids without leading zeros: the role is stored the way updates will carry it.
    code, out, _ = run_main(["role", "grant", "volunteer", "telegram:0042"], capsys)
    assert code == 0 and "telegram:42" in out
    listed = run_main(["role", "list"], capsys)[1]
    assert all(address in listed for address in [*real, "telegram:42"])
    assert "telegram:0042" not in listed
    # An id granted before the check existed can still be taken back.
    code, out, _ = run_main(["role", "revoke", "staff", "telegram:@cu"], capsys)
    assert code == 0 and "Không có gì thay đổi" in out


# ---- troly faq check without ../shared ---------------------------------------------------------------------------


def installed_copy(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The packages alone, as the Docker image installs them (no ../shared next to them), and an empty working
    directory whose parent has no shared/ either; the environment that imports the copy."""
    packages = tmp_path / "site"
    for package in ("bot", "faq", "handlers"):
        shutil.copytree(REPO / package, packages / package, ignore=shutil.ignore_patterns("__pycache__"))
    workdir = tmp_path / "data"
    workdir.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TROLY_")}
    return workdir, {**env, "PYTHONPATH": str(packages)}


def faq_check(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", "faq", "check", *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=120)


def test_faq_check_without_the_topics_file_runs_every_other_check_and_says_what_it_skipped(tmp_path: Path) -> None:
    workdir, env = installed_copy(tmp_path)
    entries = len(load_content().entries)
    result = faq_check(workdir, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"{entries} mục, 0 lỗi (chưa đối chiếu danh sách chủ đề)"
    line = one_line(result)
    assert line.startswith("Bỏ qua việc đối chiếu danh sách chủ đề") and "topics.yaml" in line and "--topics" in line

    missing = faq_check(workdir, env, "--topics", "khong-co.yaml")
    assert missing.returncode == 2 and missing.stdout == ""
    assert one_line(missing) == "Không đọc được tệp khong-co.yaml: không có tệp này."

    if TOPICS.exists():
        pointed = faq_check(workdir, env, "--topics", str(TOPICS))
        assert pointed.returncode == 0 and pointed.stderr == ""
        assert pointed.stdout.splitlines()[-1] == f"{entries} mục, 0 lỗi (đối chiếu {TOPICS})"


@pytest.mark.skipif(not TOPICS.exists(), reason="../shared/faq/topics.yaml not found")
def test_faq_check_in_the_checkout_still_checks_the_topics(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot", "faq", "check"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.splitlines()[-1] == f"{len(load_content().entries)} mục, 0 lỗi (đối chiếu {TOPICS})"


# ---- a broken FAQ file --------------------------------------------------------------------------------------------


def test_a_broken_content_file_is_one_vietnamese_line_from_every_command_that_reads_it(tmp_path: Path) -> None:
    workdir, env = installed_copy(tmp_path)
    content = tmp_path / "site" / "faq" / "content"
    broken = (content / "dvc.yaml").read_text(encoding="utf-8").replace("entries:\n", "entries:\n\t", 1)
    (content / "dvc.yaml").write_text(broken, encoding="utf-8")
    said = (f"Nội dung hỏi đáp trong {content} có lỗi: dvc.yaml: sai cú pháp YAML ở dòng "
            f"{broken.split(chr(9))[0].count(chr(10)) + 1}, cột 1: có ký tự Tab, hãy thụt lề bằng dấu cách")

    checked = faq_check(workdir, env)
    assert checked.returncode == 1 and checked.stdout == ""
    assert one_line(checked) == said
    for command in (["match"], ["serve"]):
        result = subprocess.run([sys.executable, "-m", "bot", *command], cwd=workdir, capture_output=True, text=True,
                                env={**env, "TROLY_HTTP_PORT": str(free_port())}, input="", timeout=120)
        assert result.returncode == 1, result.stderr
        assert one_line(result) == said, command
