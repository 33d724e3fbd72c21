"""The `troly` command (DESIGN.md, "Operator interface").

Heavy imports happen inside each command, so `troly match` starts in a fraction of a second.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import difflib
import json
import logging
import re
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.settings import Settings
    from bot.store.models import Identity
    from faq.content import Content

CLI_ACTOR = "cli"
RETENTION_LABELS = {
    "message_texts_cleared": "Nội dung tin nhắn đã xoá",
    "ticket_summaries_cleared": "Tóm tắt phiếu đã xoá",
    "deliveries_deleted": "Bản ghi gửi tin đã xoá",
    "update_keys_deleted": "Mã cập nhật cũ đã xoá",
}
EMPTIES_DATABASE = ("Lùi về trống (base) sẽ xoá mọi bảng và toàn bộ dữ liệu: người dân, phiếu, chiến dịch, nhật ký. "
                    "Nếu chắc chắn, hãy chạy lại lệnh với --yes.")
COMMAND_METAVAR = "LỆNH"  # what usage lines call a (sub)command, and how an unknown one is recognised in errors
# Where each (sub)command's parser puts itself in the parsed arguments: the innermost one given wins, as argparse
# copies a subcommand's defaults over its parent's.
PARSED_BY = "_parsed_by"


class VietnameseHelpFormatter(argparse.HelpFormatter):
    """argparse's help, with "Cách dùng:" where it would say "usage:"."""

    def add_usage(self, usage: str | None, actions: Iterable[argparse.Action],
                  groups: Iterable[argparse._MutuallyExclusiveGroup], prefix: str | None = None) -> None:
        # argparse passes prefix="" when it only wants the bare usage (to build a subcommand's prog): keep that.
        super().add_usage(usage, actions, groups, "Cách dùng: " if prefix is None else prefix)


class TrolyParser(argparse.ArgumentParser):
    """The `troly` parser (and, as argparse makes subparsers of the parent's class, every subcommand's): headings
    and -h in Vietnamese, and a usage mistake as one Vietnamese line with a hint to --help, exit code 2.

    argparse takes its words from gettext's global catalogue; installing one would change every other parser in
    the process, so the headings are set here and an error's English text is matched back to its template."""

    def __init__(self, prog: str | None = None, *, add_help: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", VietnameseHelpFormatter)
        super().__init__(prog, add_help=False, **kwargs)
        self.set_defaults(**{PARSED_BY: self})
        self._positionals.title = "tham số"
        self._optionals.title = "tuỳ chọn"
        if add_help:
            self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS,
                              help="hiện hướng dẫn này rồi thoát")

    def error(self, message: str) -> NoReturn:
        said = argparse_in_vietnamese(message)
        end = "" if said.endswith((".", "?")) else "."
        self.exit(2, f"Lỗi: {said}{end} Xem cách dùng: {self.prog} --help\n")


def _either(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} hoặc {items[-1]}"


def _both(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} và {items[-1]}"


def _choices(listed: str) -> list[str]:
    """argparse lists choices as their reprs ("'volunteer', 'staff'"); the operator reads the bare names."""
    try:
        return [str(choice) for choice in ast.literal_eval(f"({listed},)")]
    except (ValueError, SyntaxError):
        return [listed]


def _invalid_choice(argument: str, value: str, listed: str) -> str:
    choices = _choices(listed)
    given = value.strip("'\"")
    close = difflib.get_close_matches(given, choices, n=1)
    if argument == COMMAND_METAVAR:
        hint = f"có phải là {close[0]} không?" if close else f"các lệnh: {', '.join(choices)}"
        return f"không có lệnh {value}; {hint}"
    hint = f" (có phải là {close[0]} không?)" if close else ""
    return f"{argument} phải là {_either(choices)}, không phải {value}{hint}"


_TYPE_NAMES = {"int": "một số nguyên", "float": "một số"}

# argparse's messages about one argument, as Python 3.11 words them (its gettext msgids), each with what the
# operator reads instead; "{argument}" is the argument's name.
_ARGUMENT_MESSAGES: dict[str, Callable[[str, dict[str, str]], str]] = {
    "invalid choice: %(value)r (choose from %(choices)s)":
        lambda argument, p: _invalid_choice(argument, p["value"], p["choices"]),
    "invalid %(type)s value: %(value)r":
        lambda argument, p: f"{argument} cần {_TYPE_NAMES.get(p['type'], 'giá trị khác')}, không phải {p['value']}",
    "expected one argument": lambda argument, p: f"{argument} cần một giá trị đi kèm",
    "expected at most one argument": lambda argument, p: f"{argument} chỉ nhận nhiều nhất một giá trị",
    "expected at least one argument": lambda argument, p: f"{argument} cần ít nhất một giá trị",
    "expected %s argument": lambda argument, p: f"{argument} cần {p['_0']} giá trị",
    "expected %s arguments": lambda argument, p: f"{argument} cần {p['_0']} giá trị",
    "ignored explicit argument %r": lambda argument, p: f"{argument} không nhận giá trị, hãy bỏ {p['_0']}",
    "not allowed with argument %s": lambda argument, p: f"không dùng {argument} cùng với {p['_0']} được",
    "unknown parser %(parser_name)r (choices: %(choices)s)":
        lambda argument, p: _invalid_choice(COMMAND_METAVAR, p["parser_name"], p["choices"]),
}
# The rest of argparse's usage errors, the same way.
_PARSER_MESSAGES: dict[str, Callable[[dict[str, str]], str]] = {
    "argument %(argument_name)s: %(message)s":
        lambda p: _about_argument(p["argument_name"], p["message"]),
    "the following arguments are required: %s": lambda p: f"thiếu tham số {_both(p['_0'].split(', '))}",
    "one of the arguments %s is required": lambda p: f"cần một trong {_either(p['_0'].split(' '))}",
    "unrecognized arguments: %s": lambda p: f"không nhận ra tham số {p['_0']}",
    "ambiguous option: %(option)s could match %(matches)s":
        lambda p: f"chưa rõ {p['option']} là {' hay '.join(p['matches'].split(', '))}",
    "unexpected option string: %s": lambda p: f"không chờ tuỳ chọn {p['_0']} ở đây",
}


def _template(msgid: str) -> re.Pattern[str]:
    """A regex that reads back the values argparse put into `msgid` ("%(value)r" → group "value", "%s" → "_0")."""
    pattern, unnamed = "", 0
    for part in re.split(r"(%\(\w+\)[sr]|%[sr])", msgid):
        named = re.fullmatch(r"%\((\w+)\)[sr]", part)
        if named:
            pattern += f"(?P<{named[1]}>.+?)"
        elif part in ("%s", "%r"):
            pattern += f"(?P<_{unnamed}>.+?)"
            unnamed += 1
        else:
            pattern += re.escape(part)
    return re.compile(pattern, re.DOTALL)


_ARGUMENT_PATTERNS = [(_template(msgid), say) for msgid, say in _ARGUMENT_MESSAGES.items()]
_PARSER_PATTERNS = [(_template(msgid), say) for msgid, say in _PARSER_MESSAGES.items()]


def _about_argument(argument: str, message: str) -> str:
    for pattern, say in _ARGUMENT_PATTERNS:
        found = pattern.fullmatch(message)
        if found:
            return say(argument, found.groupdict())
    return f"{argument}: {message}"  # a message argparse gained later: still says which argument


def argparse_in_vietnamese(message: str) -> str:
    """An argparse usage error in Vietnamese; a message we do not know (a newer Python's) is passed through."""
    for pattern, say in _PARSER_PATTERNS:
        found = pattern.fullmatch(message)
        if found:
            return say(found.groupdict())
    return message


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """`parser.parse_args`, but an argument no command takes is blamed on the innermost command given, so the hint
    names its help (`troly chat --help`); argparse's own parse_args blames the top parser (`troly --help`)."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        getattr(args, PARSED_BY, parser).error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def _content_error() -> type[Exception]:
    # Only evaluated when an exception reaches its `except` clause: commands that never read the FAQ do not pay
    # for importing it (and YAML).
    from faq.content import ContentError

    return ContentError


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = _parse(parser, argv)
    if not hasattr(args, "run"):
        # "troly faq" alone: the help of `faq`, whose actions are what the operator was looking for.
        getattr(args, PARSED_BY, parser).print_help()
        raise SystemExit(2)
    from bot.settings import OperatorError

    if args.run is not _serve:  # `serve` says it in its log, in the log's format
        _warn_of_unknown_variables(None)
    try:
        code = args.run(args)
    except OperatorError as exc:  # a setup mistake, not a bug: one line, no traceback
        print(exc, file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except BrokenPipeError:
        raise SystemExit(0) from None
    except _content_error() as exc:  # a broken FAQ file (`serve`, `match`, `chat`): the file and what is wrong
        from faq.content import default_content_dir

        print(f"Nội dung hỏi đáp trong {default_content_dir()} có lỗi: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    raise SystemExit(code or 0)


def _parser() -> argparse.ArgumentParser:
    parser = TrolyParser(prog="troly", description="Trợ lý số: trợ lý số cho xã/phường.")
    commands = parser.add_subparsers(title="lệnh", metavar=COMMAND_METAVAR)

    serve = commands.add_parser("serve", help="nâng cấp cơ sở dữ liệu rồi chạy máy chủ, các kênh và lịch gửi")
    serve.set_defaults(run=_serve)

    chat = commands.add_parser("chat", help="trò chuyện với trợ lý ngay trong cửa sổ dòng lệnh")
    chat.add_argument("--user", default="local", metavar="MÃ",
                      help="mã người dùng của cuộc trò chuyện (mặc định: local)")
    chat.set_defaults(run=_chat)

    match = commands.add_parser("match", help="đọc câu hỏi từ stdin, in kết quả khớp")
    match.add_argument("--jsonl", action="store_true", help="một đối tượng JSON mỗi dòng")
    match.set_defaults(run=_match)

    evaluate = commands.add_parser("eval", help="chấm điểm bộ khớp trên một tệp có nhãn")
    evaluate.add_argument("file", type=Path, help="tệp JSON Lines có nhãn, ví dụ ../shared/eval/dev.jsonl")
    evaluate.set_defaults(run=_eval)

    db = command_group(commands, "db", "cơ sở dữ liệu")
    upgrade = db.add_parser("upgrade", help="áp dụng các migration")
    upgrade.add_argument("revision", nargs="?", default="head", help="phiên bản đích (mặc định: mới nhất)")
    upgrade.set_defaults(run=_db_upgrade)
    # No default revision: downgrading to "base" drops every table, so a bare command must never do it.
    downgrade = db.add_parser("downgrade", help="lùi migration về phiên bản REVISION (ví dụ 0006, hoặc -1)")
    downgrade.add_argument("revision", help='phiên bản đích; "base" xoá mọi bảng và dữ liệu, cần thêm --yes')
    downgrade.add_argument("--yes", action="store_true", help="đồng ý xoá toàn bộ dữ liệu khi lùi về base")
    downgrade.set_defaults(run=_db_downgrade)
    db.add_parser("current", help="phiên bản hiện tại").set_defaults(run=_db_current)

    faq = command_group(commands, "faq", "nội dung hỏi đáp")
    check = faq.add_parser("check", help="kiểm tra nội dung hỏi đáp")
    check.add_argument("--topics", type=Path, default=None, metavar="TỆP",
                       help="tệp topics.yaml (mặc định: ../shared/faq/topics.yaml, nếu có)")
    check.set_defaults(run=_faq_check)
    proposals = faq.add_parser("proposals", help="đề xuất câu hỏi thường gặp của tình nguyện viên")
    proposals.add_argument("--all", action="store_true", help="cả đề xuất đã duyệt")
    proposals.set_defaults(run=_faq_proposals)
    for action, label in (("accept", "chấp nhận"), ("reject", "từ chối")):
        decide = faq.add_parser(action, help=f"{label} một đề xuất")
        decide.add_argument("proposal_id", type=int, help="số của đề xuất, như troly faq proposals in ra")
        decide.set_defaults(run=_faq_decide, accept=action == "accept")

    role = command_group(commands, "role", "vai trò tình nguyện viên và cán bộ")
    for action, label in (("grant", "cấp"), ("revoke", "thu hồi")):
        sub = role.add_parser(action, help=f"{label} vai trò volunteer hoặc staff cho KÊNH:MÃ")
        sub.add_argument("role", choices=("volunteer", "staff"),
                         help="volunteer (tình nguyện viên) hoặc staff (cán bộ)")
        sub.add_argument("address", metavar="KÊNH:MÃ", help="kênh và mã người dùng, ví dụ telegram:123456789")
        sub.set_defaults(run=_role_change, action=action)
    role.add_parser("list", help="liệt kê vai trò").set_defaults(run=_role_list)

    resident = command_group(commands, "resident", "dữ liệu của một người dân")
    export = resident.add_parser("export", help="xuất toàn bộ dữ liệu của một người dân (JSON)")
    export.add_argument("address", metavar="KÊNH:MÃ", help="ví dụ zalo:123456")
    export.set_defaults(run=_resident_export)
    erase = resident.add_parser("erase", help="xoá toàn bộ dữ liệu của một người dân")
    erase.add_argument("address", metavar="KÊNH:MÃ", help="ví dụ zalo:123456")
    erase.set_defaults(run=_resident_erase)

    retention = commands.add_parser("retention", help="xoá nội dung tin nhắn quá hạn lưu giữ")
    retention.set_defaults(run=_retention)

    audit = commands.add_parser("audit", help="nhật ký thao tác của cán bộ và tình nguyện viên")
    audit.add_argument("--limit", type=int, default=50, metavar="SỐ", help="số dòng gần nhất (mặc định: 50)")
    audit.set_defaults(run=_audit)
    from bot import cli_campaigns

    cli_campaigns.register(commands)
    return parser


def command_group(commands: Any, name: str, help_text: str) -> Any:
    """A command whose actions are subcommands (`troly db upgrade`); given alone, it shows its own help."""
    group = commands.add_parser(name, help=help_text)
    return group.add_subparsers(metavar=COMMAND_METAVAR)


def _settings() -> Settings:
    from bot.settings import load_settings

    return load_settings()


def _warn_of_unknown_variables(log: logging.Logger | None) -> None:
    """A line on stderr, or a record in `log` (`troly serve`'s JSON log), for each variable no setting reads: said
    once, before the command runs, since a misspelt name may be why a setting is then missing."""
    from bot.settings import unknown_variables

    for unknown in unknown_variables():
        sentence = unknown.warning()
        if log is None:
            print(f"Cảnh báo: {sentence}", file=sys.stderr)
        else:
            log.warning(sentence[0].upper() + sentence[1:],
                        extra={"unknown_setting": unknown.name, "did_you_mean": unknown.closest})


def _serve(args: argparse.Namespace) -> int:
    from bot.logs import configure_logging
    from bot.server import serve
    from bot.settings import SettingsError

    try:
        settings = _settings()
    except SettingsError:
        _warn_of_unknown_variables(None)  # no log yet: a misspelt name may be why the setting is wrong
        raise
    configure_logging(settings.log_level, settings.log_format)
    _warn_of_unknown_variables(logging.getLogger("bot.settings"))
    asyncio.run(serve(settings))
    return 0


def _chat(args: argparse.Namespace) -> int:
    from bot.channels.console import run_console

    asyncio.run(run_console(_settings(), user_id=args.user))
    return 0


def _match(args: argparse.Namespace) -> int:
    from faq.matcher import Matcher

    matcher = Matcher.build(_content_in_use().entries)
    out = sys.stdout
    for line in sys.stdin:  # one output line per input line, blank ones included, so scripts can pair them
        result = matcher.match(line.rstrip("\r\n"))
        if args.jsonl:
            out.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        else:
            choices = ", ".join(f"{c.faq_id} {c.score:.2f}" for c in result.candidates)
            out.write(f"{result.decision:8} {result.faq_id or '-'} ({result.score:.2f})  [{choices}]\n")
    out.flush()
    return 0


def _content_in_use() -> Content:
    """What `troly serve` answers from: the packaged FAQ with the staff's saved edits. The packaged FAQ alone when
    there is no database yet (asking must not create one) or it cannot be read (said on stderr)."""
    from sqlalchemy.engine import make_url

    from bot.store import migrate
    from bot.store.engine import session_factory
    from bot.store.faq_edits import effective_content
    from faq.content import load_content

    packaged = load_content()
    url = make_url(_settings().database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return packaged
    found: list[Content] = []

    async def work(engine: Any) -> int:
        if await migrate.current_revision(engine) is not None:
            async with session_factory(engine)() as session:
                found.append(await effective_content(session, packaged))
        return 0

    try:
        _with_engine(work)
    except Exception as exc:  # the matcher still answers from the packaged FAQ
        print(f"Không đọc được sửa đổi hỏi đáp trong cơ sở dữ liệu ({type(exc).__name__}); dùng nội dung gốc.",
              file=sys.stderr)
    return found[0] if found else packaged


def _eval(args: argparse.Namespace) -> int:
    from faq.content import load_content
    from faq.evaluate import evaluate, format_report, load_labelled
    from faq.matcher import Matcher

    if not args.file.is_file():
        print(f"Không tìm thấy tệp {args.file}", file=sys.stderr)
        return 2
    try:
        labelled = load_labelled(args.file)
    except UnicodeDecodeError:
        print(f"Không đọc được tệp {args.file}: tệp không phải văn bản UTF-8.", file=sys.stderr)
        return 2
    except ValueError as exc:  # a line that is not a labelled question; the message names the line
        print(f"Lỗi: {exc}.", file=sys.stderr)
        return 2
    matcher = Matcher.build(load_content().entries)
    print(format_report(evaluate(matcher, labelled)))
    return 0


def _faq_check(args: argparse.Namespace) -> int:
    from bot.cli_campaigns import read_text_file
    from faq.content import check_content, load_content
    from faq.matcher import Matcher

    if args.topics is not None and read_text_file(args.topics, "utf-8") is None:
        return 2  # asked for by name: a missing file is a mistake, not a check to skip
    topics = args.topics or _find_topics_file()
    content = load_content()  # a file it cannot read: main() says which, on one line
    problems = check_content(content, topics) + Matcher.build(content.entries).typed_phrase_problems(content.entries)
    for problem in problems:
        print(f"LỖI: {problem}")
    if topics is None:
        # An installed copy (the Docker image) has no ../shared: every other check still runs.
        print("Bỏ qua việc đối chiếu danh sách chủ đề: không tìm thấy ../shared/faq/topics.yaml; "
              "chỉ đường dẫn tới tệp bằng --topics TỆP để kiểm tra cả phần này.", file=sys.stderr)
    against = f"đối chiếu {topics}" if topics is not None else "chưa đối chiếu danh sách chủ đề"
    print(f"{len(content.entries)} mục, {len(problems)} lỗi ({against})")
    return 1 if problems else 0


def _find_topics_file() -> Path | None:
    repo = Path(__file__).resolve().parent.parent
    for base in (Path.cwd(), repo):
        candidate = base.parent / "shared" / "faq" / "topics.yaml"
        if candidate.is_file():
            return candidate
    return None


def _with_engine(work: Callable[[Any], Awaitable[int]]) -> int:
    from bot.store.engine import create_engine

    async def run() -> int:
        engine = create_engine(_settings().database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _db_upgrade(args: argparse.Namespace) -> int:
    from bot.store import migrate

    async def work(engine: Any) -> int:
        await migrate.upgrade(engine, args.revision)
        print(f"Cơ sở dữ liệu ở phiên bản {await migrate.current_revision(engine)}")
        return 0

    return _with_engine(work)


def _db_downgrade(args: argparse.Namespace) -> int:
    from bot.store import migrate

    async def work(engine: Any) -> int:
        if not args.yes and await migrate.empties_database(engine, args.revision):
            print(EMPTIES_DATABASE, file=sys.stderr)
            return 2
        await migrate.downgrade(engine, args.revision)
        print(f"Cơ sở dữ liệu ở phiên bản {await migrate.current_revision(engine) or 'trống'}")
        return 0

    return _with_engine(work)


def _db_current(args: argparse.Namespace) -> int:
    from bot.store import migrate

    async def work(engine: Any) -> int:
        print(await migrate.current_revision(engine) or "trống")
        return 0

    return _with_engine(work)


def _in_session(work: Callable[[AsyncSession], Awaitable[int]]) -> int:
    from bot.store import migrate
    from bot.store.engine import session_factory

    async def run(engine: Any) -> int:
        await migrate.upgrade(engine)
        async with session_factory(engine)() as session, session.begin():
            return await work(session)

    return _with_engine(run)


def _role_change(args: argparse.Namespace) -> int:
    from bot.store import roles

    address = args.address
    if args.action == "grant":  # revoke takes any address, so that one granted before this check can be taken back
        try:
            address = grantable_address(address)
        except ValueError as exc:  # refused before the database is opened, or created
            print(f"Lỗi: {exc}.", file=sys.stderr)
            return 2

    async def work(session: AsyncSession) -> int:
        try:
            change = roles.grant if args.action == "grant" else roles.revoke
            changed = await change(session, args.role, address, CLI_ACTOR)
        except ValueError as exc:
            print(f"Lỗi: {exc}", file=sys.stderr)
            return 2
        verb = "Đã cấp" if args.action == "grant" else "Đã thu hồi"
        print(f"{verb} vai trò {args.role} cho {address}" if changed else "Không có gì thay đổi")
        return 0

    return _in_session(work)


# A role is matched against the ids the channels see; one that no update can carry would be granted and never work.
TELEGRAM_EXAMPLE = "telegram:123456789"
ZALO_EXAMPLE = "zalo:2468458835296117922"
TELEGRAM_MAX_ID = 2**53  # the Bot API: user ids have at most 52 significant bits
PHONE_NUMBER = re.compile(r"(\+84|0)\d{9,10}")  # no platform id starts with 0 or +


def grantable_address(address: str) -> str:
    """`address` as the channel writes its user ids (Telegram's without leading zeros), or ValueError saying, in
    Vietnamese, why no user of that channel can have it."""
    from bot.store.roles import parse_address

    channel, user_id = parse_address(address)
    problem = _user_id_problem(channel, user_id)
    if problem is not None:
        raise ValueError(problem)
    return f"telegram:{int(user_id)}" if channel == "telegram" else f"{channel}:{user_id}"


def _user_id_problem(channel: str, user_id: str) -> str | None:
    digits = user_id.isascii() and user_id.isdigit()  # "١٢٣".isdigit() too
    if channel == "telegram":
        if PHONE_NUMBER.fullmatch(user_id):
            return f"{user_id} giống số điện thoại; cần mã người dùng Telegram (một số), ví dụ {TELEGRAM_EXAMPLE}"
        if user_id.startswith("@"):
            return (f"{user_id} là tên người dùng Telegram; cần mã người dùng của người đó (một số), "
                    f"ví dụ {TELEGRAM_EXAMPLE}")
        if user_id.startswith("-") and user_id[1:].isascii() and user_id[1:].isdigit():
            return (f"{user_id} là mã một nhóm Telegram; vai trò cấp cho từng người, bằng mã người dùng (số dương), "
                    f"ví dụ {TELEGRAM_EXAMPLE}")
        if not digits or not 0 < int(user_id) < TELEGRAM_MAX_ID:
            return f"mã người dùng Telegram là một số nguyên dương, ví dụ {TELEGRAM_EXAMPLE}, không phải {user_id!r}"
    elif channel == "zalo":
        if PHONE_NUMBER.fullmatch(user_id):
            return f"{user_id} giống số điện thoại; cần mã người dùng Zalo của OA (một dãy số), ví dụ {ZALO_EXAMPLE}"
        if not digits:
            return f"mã người dùng Zalo là một dãy chữ số, ví dụ {ZALO_EXAMPLE}, không phải {user_id!r}"
    elif channel == "web" and not _is_web_chat_id(user_id):
        return (f"mã người dùng web là mã của khung chat, như trong nhật ký (troly audit) hay trang quản trị, "
                f"không phải {user_id!r}")
    return None


def _is_web_chat_id(user_id: str) -> bool:
    # The hash of its cookie, never the cookie itself: a role granted on a cookie would match no chat.
    from bot.channels.webchat import is_external_id

    return is_external_id(user_id)


def _role_list(args: argparse.Namespace) -> int:
    from bot.store import roles

    async def work(session: AsyncSession) -> int:
        held = await roles.list_roles(session)
        zone = _settings().timezone  # the commune's date, as the dashboard shows it
        for role in held:
            granted = f"cấp {role.granted_at.astimezone(zone):%d/%m/%Y} bởi {role.granted_by}"
            print(f"{role.role:10} {role.channel}:{role.external_id}  ({granted})")
        if not held:
            print("Chưa ai được cấp vai trò. Cấp bằng: troly role grant volunteer telegram:123456789")
        return 0

    return _in_session(work)


def _faq_proposals(args: argparse.Namespace) -> int:
    from bot.store import proposals

    async def work(session: AsyncSession) -> int:
        rows = await proposals.list_proposals(session, None if args.all else "pending")
        for row in rows:
            print(f"#{row.id} [{row.status}] {row.created_at:%Y-%m-%d} bởi {row.proposed_by} (phiếu #{row.ticket_id})")
            print(f"  Hỏi: {row.question}")
            print(f"  Đáp: {row.answer}")
        print(f"{len(rows)} đề xuất")
        return 0

    return _in_session(work)


def _faq_decide(args: argparse.Namespace) -> int:
    from bot.store import proposals

    async def work(session: AsyncSession) -> int:
        proposal = await proposals.decide(session, args.proposal_id, args.accept, CLI_ACTOR)
        if proposal is None:
            print(f"Không có đề xuất #{args.proposal_id} đang chờ duyệt", file=sys.stderr)
            return 1
        print(f"Đề xuất #{proposal.id}: {'đã chấp nhận' if args.accept else 'đã từ chối'}")
        return 0

    return _in_session(work)


async def _identity_or_complain(session: AsyncSession, address: str) -> Identity | int:
    """The identity behind "channel:user_id", or the exit code after telling the operator why not."""
    from bot.store import residents, roles

    try:
        channel, user_id = roles.parse_address(address)
    except ValueError as exc:
        print(f"Lỗi: {exc}", file=sys.stderr)
        return 2
    identity = await residents.find_identity(session, channel, user_id)
    if identity is None:
        print(f"Không có dữ liệu nào của {address}", file=sys.stderr)
        return 1
    return identity


def _resident_export(args: argparse.Namespace) -> int:
    from bot.store import audit, privacy

    async def work(session: AsyncSession) -> int:
        identity = await _identity_or_complain(session, args.address)
        if isinstance(identity, int):
            return identity
        data = await privacy.export_resident(session, identity.channel, identity.external_id)
        assert data is not None
        audit.record(session, CLI_ACTOR, "resident.export", args.address)
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0

    return _in_session(work)


def _resident_erase(args: argparse.Namespace) -> int:
    from bot.store import audit, residents

    async def work(session: AsyncSession) -> int:
        identity = await _identity_or_complain(session, args.address)
        if isinstance(identity, int):
            return identity
        await residents.erase_resident(session, identity.resident_id)
        audit.record(session, CLI_ACTOR, "resident.erase", args.address)
        print(f"Đã xoá toàn bộ dữ liệu của {args.address}")
        return 0

    return _in_session(work)


def _retention(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bot.store import privacy

    async def work(session: AsyncSession) -> int:
        counts = await privacy.apply_retention(session, datetime.now(UTC), _settings().retention_days)
        for key, label in RETENTION_LABELS.items():
            print(f"{label}: {counts.get(key, 0)}")
        return 0

    return _in_session(work)


def _audit(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from bot.store.models import AuditEntry

    async def work(session: AsyncSession) -> int:
        zone = _settings().timezone
        rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(args.limit))).all()
        for row in reversed(rows):
            details = json.dumps(row.details, ensure_ascii=False) if row.details else ""
            at = row.at.astimezone(zone)
            print(f"{at:%Y-%m-%d %H:%M:%S}  {row.actor:24} {row.action:20} {row.target or ''} {details}")
        return 0

    return _in_session(work)
