"""Content loading and checking: the real content is clean; broken files give clear ContentErrors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from faq.content import ContentError, check_content, load_content

REPO = Path(__file__).resolve().parent.parent
TOPICS = REPO.parent / "shared" / "faq" / "topics.yaml"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# What the old messages said in English; the ward's IT officer reads these.
ENGLISH = re.compile(r"\b(missing|field|must|empty|list|mapping|cannot|invalid|expected|entry|entries must|"
                     r"not found|duplicate|short title|characters|questions \(|need|answer shows|source url|"
                     r"well-formed|checked must|mentions|district|related id|does not exist|itself|topic '|"
                     r"covered|while|found|line \d|column)\b", re.IGNORECASE)


def test_real_content_has_no_problems() -> None:
    content = load_content()
    topics = TOPICS if TOPICS.exists() else None
    assert check_content(content, topics) == []
    assert {d.id for d in content.domains} == {"vneid", "dvc", "payment", "digital-skills"}
    assert len(content.by_id) == len(content.entries)


def test_fixture_loads_into_immutable_objects() -> None:
    content = load_content(FIXTURES / "content_ok")
    e = content.by_id["vneid.password.forgot"]
    assert e.domain == "vneid" and e.short == "Quên mật khẩu VNeID" and len(e.questions) == 6
    assert content.by_id["vneid.phone.change"].source.checked == "2026-03-01"
    assert check_content(content, None) == []
    with pytest.raises(AttributeError):
        e.title = "x"  # type: ignore[misc]


def _write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "dvc.yaml").write_text(body, encoding="utf-8")
    return tmp_path


def _error(directory: Path) -> str:
    """The one-line Vietnamese message loading `directory` fails with."""
    with pytest.raises(ContentError) as raised:
        load_content(directory)
    said = str(raised.value)
    assert "\n" not in said and not ENGLISH.search(said), said
    return said


@pytest.mark.parametrize(
    ("body", "said"),
    [("domain: dvc\nentries: [\n", "dvc.yaml: sai cú pháp YAML ở dòng 3, cột 1: xem lại thụt lề"),
     ('domain: dvc\ntitle: "DVC\nentries: []\n', "dvc.yaml: sai cú pháp YAML ở dòng 4, cột 1 (phần bắt đầu từ dòng 2)"),
     ("domain: dvc\ntitle: x\nentries:\n\t- id: a\n",
      "dvc.yaml: sai cú pháp YAML ở dòng 4, cột 1: có ký tự Tab, hãy thụt lề bằng dấu cách"),
     ("- domain: dvc\n", "dvc.yaml: tệp phải gồm các trường domain, title và entries"),
     ("domain: dvc\ntitle: [x]\nentries: []\n", "dvc.yaml: trường 'title' phải là văn bản")],
)
def test_a_broken_file_is_one_vietnamese_line_naming_the_file_and_where(tmp_path: Path, body: str, said: str
                                                                       ) -> None:
    assert _error(_write(tmp_path, body)).startswith(said)


def test_a_file_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_bytes(b"domain: dvc\ntitle: D\xe1ch v\xf5 c\xf4ng\n")  # saved as Windows-1258
    assert _error(tmp_path) == "dvc.yaml: không đọc được tệp: tệp không phải văn bản UTF-8"


def test_missing_field_names_file_and_entry(tmp_path: Path) -> None:
    ok = (FIXTURES / "content_ok" / "vneid.yaml").read_text(encoding="utf-8")
    text = ok.replace('    answer: |\n      1. Mở ứng dụng VNeID, bấm "Quên mật khẩu".\n'
                      "      2. Nhập mã OTP gửi về điện thoại, rồi đặt mật khẩu mới.\n", "")
    assert _error(_write(tmp_path, text)) == "dvc.yaml mục 1 (vneid.password.forgot): thiếu trường 'answer'"
    text = ok.replace('      url: "https://vneid.gov.vn/"\n', "", 1)
    assert _error(_write(tmp_path, text)) == "dvc.yaml mục 1 (vneid.password.forgot): thiếu trường 'source.url'"
    text = ok.replace("    questions:\n", '    questions: "một câu"\n    old_questions:\n', 1)
    assert _error(_write(tmp_path, text)).startswith(
        "dvc.yaml mục 1 (vneid.password.forgot): trường 'questions' phải là danh sách")


def test_missing_folder_and_empty_entries(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope") == f"{tmp_path / 'nope'}: không tìm thấy thư mục nội dung hỏi đáp"
    assert _error(tmp_path) == f"{tmp_path}: thư mục không có tệp nội dung *.yaml nào"
    assert _error(_write(tmp_path, "domain: dvc\ntitle: x\nentries: []\n")) == (
        "dvc.yaml: trường 'entries' phải là danh sách có ít nhất một mục")


def test_check_reports_each_rule(tmp_path: Path) -> None:
    text = (FIXTURES / "content_ok" / "vneid.yaml").read_text(encoding="utf-8")
    text = text.replace('short: "Quên mật khẩu VNeID"', 'short: "Quên mật khẩu tài khoản VNeID"')
    text = text.replace("related: [vneid.phone.change]", "related: [vneid.nothing]")
    text = text.replace(
        'url: "https://vneid.gov.vn/"\n      checked: "2026-03"', 'url: "vneid.gov.vn"\n      checked: "03/2026"'
    )
    text = text.replace("1. Mở VNeID,", "1. Đến Công an huyện hoặc mở VNeID,")
    # A body within the limit, with a source title that takes the shown answer past one screen.
    text = text.replace('title: "Bộ Công an', 'title: "' + "Rất dài " * 110 + 'Bộ Công an', 1)
    text = text.replace('      - "muốn đổi số điện thoại định danh"\n', "")
    text += text.split("entries:\n", 1)[1]  # duplicate ids
    content = load_content(_write(tmp_path, text))
    found = check_content(content, TOPICS if TOPICS.exists() else None)
    problems = "\n".join(found)
    forgot, change = "vneid.password.forgot", "vneid.phone.change"
    for said in (f"{forgot}: tên ngắn (short) có 29 ký tự, tối đa 20",
                 f"{forgot}: mục liên quan (related) 'vneid.nothing' không tồn tại",
                 f"{forgot}: liên kết nguồn (source.url) phải là địa chỉ http:// hoặc https:// đầy đủ, "
                 "không phải 'vneid.gov.vn'",
                 f"{forgot}: ngày kiểm tra nguồn (source.checked) cần dạng YYYY-MM hoặc YYYY-MM-DD, ví dụ 2026-03, "
                 "không phải '03/2026'",
                 f"{change}: nhắc tới 'công an huyện' (từ 1/7/2025 không còn cấp huyện)",
                 f"{change}: có 5 cách hỏi (questions), cần từ 6 đến 14",
                 f"{forgot}: mã mục bị trùng với một mục khác"):
        assert said in found, said
    assert re.search(rf"^{forgot}: câu trả lời hiện ra \d+ ký tự kể cả tiêu đề và dòng nguồn, tối đa 900$", problems,
                     re.MULTILINE), problems
    if TOPICS.exists():
        assert "chủ đề 'vneid.overview': chưa có mục nào trả lời" in found
    assert not ENGLISH.search(problems), problems


def test_check_reports_an_unknown_domain_and_a_self_reference(tmp_path: Path) -> None:
    text = (FIXTURES / "content_ok" / "vneid.yaml").read_text(encoding="utf-8")
    text = text.replace("domain: vneid", "domain: vneid-cu").replace("related: [vneid.password.forgot]",
                                                                       "related: [vneid.phone.change]")
    found = check_content(load_content(_write(tmp_path, text)))
    assert found == ["lĩnh vực 'vneid-cu': không có lĩnh vực này (domain phải là một trong vneid, dvc, payment, "
                     "digital-skills)",
                     "vneid.phone.change: mục liên quan (related) trỏ về chính mục này"]


@pytest.mark.parametrize(
    ("body", "said"),
    [("topics: [\n", "sai cú pháp YAML ở dòng 2, cột 1"),
     ("topics: 5\n", "cần trường 'topics' là một danh sách")],
)
def test_a_broken_topics_file_is_one_problem_line(tmp_path: Path, body: str, said: str) -> None:
    topics = tmp_path / "topics.yaml"
    topics.write_text(body, encoding="utf-8")
    found = check_content(load_content(FIXTURES / "content_ok"), topics)
    assert len(found) == 1 and found[0].startswith(f"{topics} (danh sách chủ đề): {said}"), found
    assert not ENGLISH.search(found[0]), found
