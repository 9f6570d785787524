"""The price book in the Django admin.

An entry that has priced usage is frozen (the database refuses edits to its rates,
match and start, ledger migration 0011): the admin shows it read-only and offers
"correct this price", which adds the corrected entry from an instant on, ends the
old one there, and points to the reprice that appends the adjustments.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from ledger import audit, clock
from ledger.admin_site import RoleModelAdmin
from ledger.models import ModelPrice
from ledger.pricing import entries as price_entries
from ledger.pricing.book import RATE_FIELDS, entry_from_row, forget_cached_book


class PriceCorrectionForm(forms.Form):
    """A new entry from an instant on, with the rates it should have had."""

    effective_from = forms.DateTimeField(
        help_text="From when the price was wrong (UTC); the old entry ends there."
    )
    reason = forms.CharField(max_length=400, help_text="Why: recorded in the audit trail.")

    def __init__(self, *args: Any, price: ModelPrice, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in RATE_FIELDS:
            field: Any = ModelPrice._meta.get_field(name)
            self.fields[name] = field.formfield(required=not field.null)
            self.initial.setdefault(name, getattr(price, name))


@admin.register(ModelPrice)
class ModelPriceAdmin(RoleModelAdmin):
    """The price book. An entry that has priced usage is frozen (the database refuses
    edits to it, migration 0011): it is shown read-only, with "correct this price"."""

    change_form_template = "admin/ledger/modelprice/change_form.html"
    list_display = [
        "provider", "model", "match", "effective_from", "effective_to", "input", "output",
        "cache_write_5m", "cache_write_1h", "cache_read", "long_context_threshold",
    ]  # fmt: skip
    list_filter = ["provider"]
    search_fields = ["model", "match"]
    date_hierarchy = "effective_from"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None or not price_entries.price_is_frozen(obj):
            return []
        frozen = [f.name for f in ModelPrice._meta.fields if f.name not in ("note", "source_url")]
        # The end may still be set once, from open.
        return [
            name for name in frozen if not (name == "effective_to" and obj.effective_to is None)
        ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and price_entries.price_is_frozen(obj):
            return False
        return super().has_delete_permission(request, obj)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        price = self.get_object(request, object_id)
        context = dict(extra_context or {})
        if price is not None:
            context["frozen"] = price_entries.price_is_frozen(price)
        return super().change_view(request, object_id, form_url, extra_context=context)

    def save_model(self, request: HttpRequest, obj: ModelPrice, form: Any, change: bool) -> None:
        try:
            entry_from_row(obj)  # the pricing rules' own validation
        except ValueError as exc:
            messages.error(request, f"Not saved: {exc}")
            return
        if not change:
            price_entries.price_add(row=obj)
            return
        was = ModelPrice.objects.get(pk=obj.pk)
        changed = {
            name: (getattr(was, name), getattr(obj, name))
            for name in form.changed_data
            if getattr(was, name) != getattr(obj, name)
        }
        obj.save()
        if changed:
            closing = "effective_to" in changed and was.effective_to is None
            audit.record(
                "price.closed" if closing else "price.changed",
                obj=obj,
                before={k: v[0] for k, v in changed.items()},
                after={k: v[1] for k, v in changed.items()},
            )
        forget_cached_book()
        messages.info(
            request, reprice_hint(obj, obj.effective_from, obj.effective_to or clock.now())
        )

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/correct/", wrap(self.correct_view), name="ledger_modelprice_correct"),
            *super().get_urls(),
        ]

    def correct_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """ "Correct this price": a new entry from an instant on, the old one ending there."""
        price = get_object_or_404(ModelPrice, pk=pk)
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PriceCorrectionForm(request.POST or None, price=price)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                new = price_entries.price_correct(
                    row=price,
                    effective_from=data["effective_from"],
                    rates={name: data[name] for name in RATE_FIELDS},
                    reason=data["reason"],
                )
            except ValueError as exc:  # PriceChangeError, or the pricing rules
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Added {new}; {price} now ends there.")
                messages.info(request, reprice_hint(price, new.effective_from, clock.now()))
                return HttpResponseRedirect(
                    reverse("admin:ledger_modelprice_change", args=[new.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Correct {price}",
            "original": price,
            "form": form,
        }
        return TemplateResponse(request, "admin/ledger/modelprice/correct.html", context)


def reprice_hint(price: ModelPrice, start: Any, now: Any) -> str:
    """The command that reprices usage from ``start`` with the book as it is now."""
    return (
        "Stored costs are never rewritten. To correct usage already priced with "
        "this entry, run: python manage.py reprice --provider "
        f"{price.provider} --model {price.model} --from {start:%Y-%m-%d} "
        f"--to {now:%Y-%m-%d} (dry run), then with --apply."
    )
