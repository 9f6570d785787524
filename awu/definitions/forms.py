"""Admin forms for definition versions: CEL problems shown next to each field."""

from __future__ import annotations

from typing import Any

from django import forms

from awu.definitions.models import RULE_FIELDS, DefinitionVersion

_JSON_HELP = (
    'A JSON list of clauses, e.g. [{"type": "deploy.succeeded", "link": ["commit"], '
    '"within_days": 14, "condition": "event.attributes.environment == \\"production\\""}]. '
    "Keys: type, condition, link, within_days, carry, total, at_least."
)


class DefinitionVersionForm(forms.ModelForm):
    """Edits a draft's rules. Every expression is checked on save (the model's
    ``clean``); problems are shown at their field as "line L, column C: message"
    and block the save, so a draft saved here is always publishable."""

    class Meta:
        model = DefinitionVersion
        fields = ["definition", *RULE_FIELDS, "note"]
        widgets = {
            "trigger_condition": forms.Textarea(attrs={"rows": 3, "cols": 100}),
            "units": forms.TextInput(attrs={"size": 60}),
        }
        help_texts = {
            "trigger_condition": "CEL over event (the trigger), e.g. "
            '!event.attributes.draft && event.attributes.base_branch == "main". Empty: always.',
            "requires": _JSON_HELP,
            "disqualifiers": 'Like requires, without within_days/carry/total: e.g. [{"type": '
            '"code.reverted", "link": ["commit", "pr"]}].',
        }

    def clean_trigger_type(self) -> Any:
        return (self.cleaned_data.get("trigger_type") or "").strip()
