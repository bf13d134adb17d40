"""docs/SETTINGS.md is generated from the settings' field descriptions and never drifts from them; the
settings a user sets stay few, and the tuning knobs live in one nested group."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rag.settings import Settings, Tuning, settings_markdown

from ..factories import ROOT


def test_the_settings_page_is_up_to_date_with_the_settings_object() -> None:
    page = (ROOT / "docs" / "SETTINGS.md").read_text(encoding="utf-8")
    assert page == settings_markdown(), "run `python -m rag.settings > docs/SETTINGS.md`"


def test_every_setting_has_a_description() -> None:
    fields = {**Settings.model_fields, **Tuning.model_fields}
    assert [name for name, field in fields.items() if not field.description] == []


def test_the_settings_page_lists_every_tuning_knob_under_its_nested_variable() -> None:
    tuning = settings_markdown().split("## Tuning (for studies)")[1]
    assert [name for name in Tuning.model_fields if f"| `RAG_TUNING__{name.upper()}` |" not in tuning] == []


def test_the_settings_a_user_sets_stay_few() -> None:
    assert len([name for name in Settings.model_fields if name != "tuning"]) <= 40
    assert not set(Settings.model_fields) & set(Tuning.model_fields), "a knob lives in one group only"


def test_a_tuning_knob_is_read_from_its_nested_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_TUNING__RRF_K", "30")
    assert Settings().tuning.rrf_k == 30
    assert Settings().tuning.hnsw_m == Tuning().hnsw_m


def test_a_tuning_knob_set_under_its_old_top_level_name_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_RRF_K", "30")
    with pytest.warns(UserWarning, match="RAG_TUNING__RRF_K"):
        assert Settings().tuning.rrf_k == 60


def test_tuned_copies_change_only_the_named_knobs_and_are_validated() -> None:
    base = Settings(top_k=4)
    tuned = base.tuned(rrf_k=30, hnsw_m=16)
    assert (tuned.top_k, tuned.tuning.rrf_k, tuned.tuning.hnsw_m, tuned.tuning.title_weight) == (4, 30, 16, 0.4)
    assert base.tuning.rrf_k == 60
    with pytest.raises(ValidationError):
        base.tuned(rrf_k=0)
    with pytest.raises(ValidationError):
        base.tuned(rrf_kk=30)  # a misspelt knob is not silently its default


def test_a_tuning_knob_passed_at_the_top_level_is_refused_not_ignored() -> None:
    with pytest.raises(TypeError, match=r"settings\.tuned\(rrf_k=\.\.\.\)"):
        Settings(rrf_k=30)
