"""`troly campaign …` and `troly subscribers …` (registered into the `troly` parser by bot/cli.py)."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.settings import Settings
    from bot.store.campaigns import SubscriberRow

CLI_ACTOR = "cli"
HEADER = ["channel", "user_id", "area"]
CAMPAIGN_ID_HELP = "số của chiến dịch, như troly campaign list in ra"


def register(commands: Any) -> None:
    """Add the campaign and subscriber commands to `troly`'s subparsers."""
    from bot.cli import command_group

    campaign = command_group(commands, "campaign", "chiến dịch thông báo")
    create = campaign.add_parser("create", help="tạo chiến dịch (gửi ngay nếu không có --send-at/--recurrence)")
    create.add_argument("--title", required=True, metavar="TIÊU_ĐỀ", help="tiêu đề (người dân thấy ở đầu thông báo)")
    create.add_argument("--text", required=True, metavar="NỘI_DUNG", help="nội dung; dùng @tệp.txt để đọc từ tệp")
    create.add_argument("--area", action="append", default=[], metavar="KHU_VỰC",
                        help="thôn/tổ dân phố (lặp lại; bỏ trống: tất cả)")
    create.add_argument("--channel", action="append", default=[], metavar="KÊNH",
                        help="telegram/zalo/web (lặp lại; bỏ trống: tất cả)")
    create.add_argument("--send-at", metavar="THỜI_ĐIỂM",
                        help="thời điểm gửi ISO-8601, ví dụ 2026-12-01T08:00 (giờ TROLY_TIMEZONE)")
    create.add_argument("--recurrence", metavar="CRON",
                        help='lịch lặp crontab 5 trường, ví dụ "0 8 * * 1" (8 giờ sáng thứ Hai)')
    create.add_argument("--until", metavar="THỜI_ĐIỂM", help="ngày giờ kết thúc lịch lặp (ISO-8601)")
    create.add_argument("--link-url", metavar="URL", help="đường dẫn kèm theo, ví dụ https://dichvucong.gov.vn")
    create.add_argument("--link-title", metavar="CHỮ", help="chữ trên nút mở đường dẫn")
    create.add_argument("--author", default=CLI_ACTOR, metavar="KÊNH:MÃ",
                        help="người nhận bản xem trước và báo cáo, ví dụ telegram:123456")
    create.add_argument("--draft", action="store_true", help="chỉ lưu nháp (và gửi bản xem trước); gửi bằng schedule")
    create.set_defaults(run=_create)
    schedule = campaign.add_parser("schedule", help="đưa một bản nháp vào lịch gửi")
    schedule.add_argument("campaign_id", type=int, help=CAMPAIGN_ID_HELP)
    schedule.set_defaults(run=_schedule)
    campaign.add_parser("list", help="liệt kê chiến dịch").set_defaults(run=_list)
    show = campaign.add_parser("show", help="trạng thái và số liệu gửi của một chiến dịch")
    show.add_argument("campaign_id", type=int, help=CAMPAIGN_ID_HELP)
    show.set_defaults(run=_show)
    cancel = campaign.add_parser("cancel", help="huỷ chiến dịch; tin chưa gửi sẽ không gửi nữa")
    cancel.add_argument("campaign_id", type=int, help=CAMPAIGN_ID_HELP)
    cancel.set_defaults(run=_cancel)

    subscribers = command_group(commands, "subscribers", "người đăng ký nhận thông báo")
    load = subscribers.add_parser("import", help="nhập tệp CSV channel,user_id,area (có dòng tiêu đề)")
    load.add_argument("file", type=Path, metavar="TỆP.csv", help="tệp CSV, ví dụ nguoi-dang-ky.csv")
    load.set_defaults(run=_import)
    subscribers.add_parser("export", help="xuất người đăng ký ra CSV (stdout)").set_defaults(run=_export)


def _settings() -> Settings:
    from bot.cli import _settings as settings

    return settings()


def _in_session(work: Callable[[AsyncSession, Settings], Awaitable[int]]) -> int:
    """`troly`'s own session helper (migrated database, one transaction), with the settings handed in too."""
    from bot.cli import _in_session as in_session

    settings = _settings()
    return in_session(lambda session: work(session, settings))


def _status(status: str) -> str:
    from bot.store.campaigns import CAMPAIGN_STATUS_LABELS

    return CAMPAIGN_STATUS_LABELS.get(status, status).lower()


def _create(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bot.store import campaigns
    from bot.web.api import parse_time

    text = args.text
    if text.startswith("@"):
        read = read_text_file(Path(text[1:]), "utf-8")
        if read is None:
            return 2
        text = read

    async def work(session: AsyncSession, settings: Settings) -> int:
        zone = settings.timezone
        try:
            spec = campaigns.CampaignSpec(
                title=args.title, text=text, author=args.author, areas=tuple(args.area),
                channels=tuple(args.channel), send_at=parse_time(args.send_at, zone, "--send-at"),
                recurrence=args.recurrence, until=parse_time(args.until, zone, "--until"),
                link_url=args.link_url, link_title=args.link_title,
            )
            now = datetime.now(UTC)
            campaign = await campaigns.create_campaign(session, spec, now, zone,
                                                       status="draft" if args.draft else "scheduled",
                                                       known_areas=settings.areas)
            campaigns.enqueue_preview(session, campaign, settings.commune_name, now)
        except campaigns.CampaignError as exc:
            print(f"Lỗi: {exc}", file=sys.stderr)
            return 2
        if campaign.status == "draft":
            print(f"Đã lưu nháp chiến dịch #{campaign.id}; bản nháp không được gửi cho đến khi chạy "
                  f"troly campaign schedule {campaign.id}.")
        else:
            print(f"Đã tạo chiến dịch #{campaign.id} ({_status(campaign.status)}); "
                  "máy chủ đang chạy (troly serve) sẽ gửi theo lịch.")
        return 0

    return _in_session(work)


def _schedule(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bot.store import campaigns

    async def work(session: AsyncSession, settings: Settings) -> int:
        campaign = await campaigns.schedule_draft(session, args.campaign_id, CLI_ACTOR, datetime.now(UTC))
        if campaign is None:
            print(f"Không có bản nháp #{args.campaign_id}", file=sys.stderr)
            return 1
        print(f"Chiến dịch #{campaign.id} đã vào lịch gửi.")
        return 0

    return _in_session(work)


def _list(args: argparse.Namespace) -> int:
    from bot.store import campaigns

    async def work(session: AsyncSession, settings: Settings) -> int:
        rows = await campaigns.list_campaigns(session)
        for row in rows:
            when = row.recurrence or (f"{row.send_at.astimezone(settings.timezone):%Y-%m-%d %H:%M}"
                                      if row.send_at else "-")
            print(f"#{row.id:<4} {_status(row.status):12} {when:20} {row.title}")
        print(f"{len(rows)} chiến dịch")
        return 0

    return _in_session(work)


def _show(args: argparse.Namespace) -> int:
    from bot.store import campaigns

    async def work(session: AsyncSession, settings: Settings) -> int:
        campaign = await campaigns.get_campaign(session, args.campaign_id)
        if campaign is None:
            print(f"Không có chiến dịch #{args.campaign_id}", file=sys.stderr)
            return 1
        zone = settings.timezone
        print(f"Chiến dịch #{campaign.id}: {campaign.title}")
        print(f"Trạng thái: {_status(campaign.status)} ({campaign.status})")
        areas = ", ".join(campaign.audience_areas) or "tất cả"
        channels = ", ".join(campaign.audience_channels) or "tất cả"
        print(f"Đối tượng: khu vực {areas}; kênh {channels}")
        if campaign.recurrence:
            until = f" đến {campaign.until.astimezone(zone):%Y-%m-%d %H:%M}" if campaign.until else ""
            print(f"Lịch lặp: {campaign.recurrence}{until}")
        elif campaign.send_at:
            print(f"Gửi lúc: {campaign.send_at.astimezone(zone):%Y-%m-%d %H:%M}")
        for run in await campaigns.runs_of(session, campaign.id):
            figures = campaigns.outcomes_line(await campaigns.run_counts(session, [run.id]))
            print(f"  lần gửi {run.scheduled_for.astimezone(zone):%Y-%m-%d %H:%M} [{run.status}] {figures}")
        print(f"Tổng: {campaigns.outcomes_line(await campaigns.campaign_counts(session, campaign.id))}")
        return 0

    return _in_session(work)


def _cancel(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bot.store import campaigns

    async def work(session: AsyncSession, settings: Settings) -> int:
        campaign = await campaigns.cancel_campaign(session, args.campaign_id, CLI_ACTOR, datetime.now(UTC))
        if campaign is None:
            print(f"Không có chiến dịch #{args.campaign_id}", file=sys.stderr)
            return 1
        if campaign.status == "done":
            print(f"Chiến dịch #{campaign.id} đã gửi xong, không huỷ được nữa.", file=sys.stderr)
            return 1
        print(f"Đã huỷ chiến dịch #{campaign.id}; tin chưa gửi sẽ không được gửi.")
        return 0

    return _in_session(work)


def read_text_file(path: Path, encoding: str) -> str | None:
    """The file's text, or None after telling the operator, in one line, why it could not be read."""
    try:
        return path.read_text(encoding=encoding)
    except FileNotFoundError:
        why = "không có tệp này"
    except IsADirectoryError:
        why = "đây là một thư mục"
    except PermissionError:
        why = "không có quyền đọc"
    except UnicodeDecodeError:
        why = "tệp không phải văn bản UTF-8"
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    print(f"Không đọc được tệp {path}: {why}.", file=sys.stderr)
    return None


def read_subscribers(text: str, areas: tuple[str, ...]) -> tuple[list[SubscriberRow], list[str]]:
    """Parse and check a subscribers CSV; returns the rows and the problems (each naming its line)."""
    from bot.store.campaigns import SubscriberRow, commune_area
    from bot.store.models import CHANNELS

    first_line = text.partition("\n")[0]
    # Excel saves "CSV" with semicolons where the decimal mark is a comma, as in Vietnamese settings.
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    problems: list[str] = []
    rows: list[SubscriberRow] = []
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != HEADER:
        return [], [f"dòng 1: cần dòng tiêu đề {','.join(HEADER)}"]
    seen: dict[tuple[str, str], int] = {}
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != 3:
            problems.append(f"dòng {line}: cần đúng 3 cột channel,user_id,area (có {len(record)})")
            continue
        channel, user_id, area = (cell.strip() for cell in record)
        known = commune_area(area, areas)
        if channel not in CHANNELS:
            problems.append(f"dòng {line}: kênh {channel!r} không hợp lệ (chọn {'/'.join(CHANNELS)})")
        elif not user_id or len(user_id) > 128:
            problems.append(f"dòng {line}: thiếu user_id hoặc quá dài")
        elif known is None:
            problems.append(f"dòng {line}: khu vực {area!r} không có trong TROLY_AREAS ({', '.join(areas)})")
        elif (channel, user_id) in seen:
            problems.append(f"dòng {line}: {channel}:{user_id} đã có ở dòng {seen[(channel, user_id)]}")
        else:
            seen[(channel, user_id)] = line
            rows.append(SubscriberRow(line, channel, user_id, known))
    return rows, problems


def _import(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from bot.store import audit, campaigns

    text = read_text_file(args.file, "utf-8-sig")
    if text is None:
        return 2
    settings = _settings()
    rows, problems = read_subscribers(text, settings.areas)
    if problems:
        for problem in problems:
            print(f"LỖI {problem}", file=sys.stderr)
        print(f"Không nhập gì: {len(problems)} dòng lỗi. Sửa tệp rồi chạy lại.", file=sys.stderr)
        return 1

    async def work(session: AsyncSession, settings: Settings) -> int:
        result = await campaigns.import_subscribers(session, rows, datetime.now(UTC))
        audit.record(session, CLI_ACTOR, "subscribers.import", str(args.file.name), rows=len(rows))
        print(f"Đã nhập {len(rows)} dòng: {result.created} người mới, {result.updated} đổi khu vực, "
              f"{result.unchanged} không đổi.")
        return 0

    return _in_session(work)


def _export(args: argparse.Namespace) -> int:
    from bot.store import campaigns

    async def work(session: AsyncSession, settings: Settings) -> int:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(await campaigns.export_subscribers(session))
        return 0

    return _in_session(work)
