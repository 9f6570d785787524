"""Model ids as tools report them, reduced to the vendor's plain id, and glob ranking.

Pure: no Django. A price entry matches a usage record's normalised model exactly or
through its globs (``ledger.pricing.cost.PriceEntry.specificity``).
"""

from __future__ import annotations

import re

# Bedrock ids: optional inference-profile region ("us.", "eu.", "apac.",
# "global.", ...), the vendor ("anthropic."), then the id and "-v1:0".
_BEDROCK_PREFIX = re.compile(r"^(?:[a-z]{2,6}\.)?(?:anthropic|openai|meta|amazon|cohere)\.")
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
# The ":0" form is Bedrock's alone, so it is dropped even without a prefix
# (LiteLLM keys some Bedrock models as "claude-sonnet-4-5-20250929-v1:0").
_BEDROCK_COLON_VERSION = re.compile(r"-v\d+:\d+$")
# Claude Code names the 1M-context variant "claude-sonnet-4-5[1m]"; the price
# tier follows from the token counts, not the name.
_CONTEXT_SUFFIX = re.compile(r"\[[0-9a-z]+\]$")
_CLAUDE_DOTTED_VERSION = re.compile(r"(?<=\d)\.(?=\d)")


def normalize_model(raw: str) -> str:
    """Return the vendor's plain model id for ``raw`` as tools report it.

    * surrounding space dropped, lower-cased;
    * gateway/provider path prefixes dropped: ``anthropic/claude-opus-4-5`` and
      ``openrouter/anthropic/claude-opus-4-5`` become ``claude-opus-4-5``;
    * Bedrock ids lose the region profile, vendor and version:
      ``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` becomes
      ``claude-sonnet-4-5-20250929``;
    * Vertex AI's ``claude-sonnet-4-5@20250929`` becomes
      ``claude-sonnet-4-5-20250929``;
    * a context-size tag like ``[1m]`` is dropped;
    * Claude version dots become dashes (``claude-sonnet-4.5`` is
      ``claude-sonnet-4-5``); other vendors keep their dots (``gpt-4.1``).
    """
    model = raw.strip().lower()
    model = model.rsplit("/", 1)[-1]
    model = _CONTEXT_SUFFIX.sub("", model)
    if _BEDROCK_PREFIX.match(model):
        model = _BEDROCK_PREFIX.sub("", model, count=1)
        model = _BEDROCK_VERSION.sub("", model)
    model = _BEDROCK_COLON_VERSION.sub("", model)
    model = model.replace("@", "-")
    if model.startswith("claude"):
        model = _CLAUDE_DOTTED_VERSION.sub("-", model)
    return model


def literal_chars(pattern: str) -> int:
    """Characters of ``pattern`` that must match literally."""
    count = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char in "*?":
            i += 1
            continue
        if char == "[":
            end = pattern.find("]", i + 2)
            if end != -1:
                i = end + 1
                continue
        count += 1
        i += 1
    return count
