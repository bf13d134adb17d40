"""docs/SETTINGS.md is generated from the settings' field descriptions and never drifts from them."""

from __future__ import annotations

from rag.settings import Settings, settings_markdown

from ..factories import ROOT


def test_the_settings_page_is_up_to_date_with_the_settings_object() -> None:
    page = (ROOT / "docs" / "SETTINGS.md").read_text(encoding="utf-8")
    assert page == settings_markdown(), "run `python -m rag.settings > docs/SETTINGS.md`"


def test_every_setting_has_a_description() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []
