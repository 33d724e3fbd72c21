"""Content loading and checking: the real content is clean; broken files give clear ContentErrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from faq.content import ContentError, check_content, load_content

REPO = Path(__file__).resolve().parent.parent
TOPICS = REPO.parent / "shared" / "faq" / "topics.yaml"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


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


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match=r"dvc\.yaml: invalid YAML"):
        load_content(_write(tmp_path, "domain: dvc\nentries: [\n"))


def test_missing_field_names_file_and_entry(tmp_path: Path) -> None:
    text = (FIXTURES / "content_ok" / "vneid.yaml").read_text(encoding="utf-8")
    text = text.replace('    answer: |\n      1. Mở ứng dụng VNeID, bấm "Quên mật khẩu".\n'
                        "      2. Nhập mã OTP gửi về điện thoại, rồi đặt mật khẩu mới.\n", "")
    expected = r"dvc\.yaml entry 1 \(entry 'vneid\.password\.forgot'\): missing field 'answer'"
    with pytest.raises(ContentError, match=expected):
        load_content(_write(tmp_path, text))


def test_missing_folder_and_empty_entries(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="not found"):
        load_content(tmp_path / "nope")
    with pytest.raises(ContentError, match="'entries' must be a non-empty list"):
        load_content(_write(tmp_path, "domain: dvc\ntitle: x\nentries: []\n"))


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
    problems = "\n".join(check_content(content, TOPICS if TOPICS.exists() else None))
    for needle in ("short title has", "related id 'vneid.nothing'", "not a well-formed", "YYYY-MM",
                   "công an huyện", "5 questions", "duplicate id", "the answer shows"):
        assert needle in problems, needle
    if TOPICS.exists():
        assert "topic 'vneid.overview' is not covered" in problems
