"""One catalogue for everything a person reads: every error code any package can return
and every socket close code has a text in Chinese and in English, with the same
placeholders; the English catalogue holds no Chinese and the two languages hold the same keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

from displays import pages
from displays.dashboard import messages as dashboard_messages
from tests.support import ROOT, error_codes

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


def test_every_error_code_has_a_text_in_both_languages() -> None:
    codes = error_codes()
    assert {"not_rostered", "bad_credentials", "unauthorized", "internal_error",
            "method_not_allowed", "store_unavailable"} <= codes  # the collector sees them all
    for lang in pages.LANGS:
        missing = sorted(c for c in codes if not pages.catalogue(lang).get(f"error.{c}"))
        assert not missing, f"displays/messages/errors.{lang}.json lacks {missing}"


def test_every_socket_close_code_has_a_text_in_both_languages() -> None:
    source = (ROOT / "displays" / "ws.py").read_text(encoding="utf-8")
    close_codes = set(re.findall(r"^CLOSE_\w+ = (\d+)", source, re.M)) | {"4408"}
    for lang in pages.LANGS:
        missing = sorted(c for c in close_codes if f"conn.{c}" not in pages.catalogue(lang))
        assert not missing


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    for zh, en in ((pages.catalogue("zh"), pages.catalogue("en")),
                   (dashboard_messages("zh"), dashboard_messages("en"))):
        assert set(zh) == set(en), set(zh) ^ set(en)
        differ = sorted(k for k in zh if placeholders(zh[k]) != placeholders(en[k]))
        assert not differ


def test_english_texts_hold_no_chinese_and_chinese_texts_no_stray_english() -> None:
    en = {**pages.catalogue("en"), **dashboard_messages("en")}
    assert not sorted(k for k, v in en.items() if CJK.search(v) and k != "lang.switch")
    zh = {**pages.catalogue("zh"), **dashboard_messages("zh")}
    # Chinese texts may hold codes and abbreviations (CSV, P90), never English words.
    words = {k: re.findall(r"[A-Za-z]{4,}", re.sub(r"\{\w+\}", "", v)) for k, v in zh.items()}
    assert not {k: w for k, w in words.items() if w and k != "lang.switch"}


def test_pages_show_the_catalogue_text_for_a_code_filled_with_its_parameters() -> None:
    assert pages.error_text("zh", "not_rostered", name="张敏", window=8) == \
        "张敏今天没有排班在 8 号窗口，请选择您排班的窗口。"
    assert pages.error_text("en", "no_current_ticket", window=1) == \
        "Window 1 has no number at the moment."
    assert pages.error_text("zh", "no_such_code") == pages.catalogue("zh")["error.generic"]


def test_catalogue_files_are_valid_json_objects_of_strings() -> None:
    for path in Path(pages.HERE / "messages").glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert all(isinstance(v, str) for v in data.values()), path
