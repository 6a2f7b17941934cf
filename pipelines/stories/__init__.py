"""Stories: one press release and its reprints across portals (issue 13).

Pure: text in, story fields out; the store persists what :mod:`pipelines.stories.assign`
says it needs and runs the same algorithm against its own tables.

* :mod:`pipelines.stories.text` — the text a signature is made of (captions, source lines,
  bylines, datelines removed; folded words; distinctive tokens);
* :mod:`pipelines.stories.signature` — MinHash of word shingles, LSH band keys;
* :mod:`pipelines.stories.verify` — the "same story" decision for one candidate pair;
* :mod:`pipelines.stories.bands` — the band table in memory;
* :mod:`pipelines.stories.assign` — incremental, order-independent stories and their ids.
"""

from __future__ import annotations

from pipelines.stories.assign import StoryDoc, StoryFields, StoryIndex, order_key, stored_fields
from pipelines.stories.signature import Signature, SignatureParams, band_keys, make_signature, signature_of
from pipelines.stories.verify import Evidence, StoryRule, compare, same_story

__all__ = [
    "Evidence",
    "Signature",
    "SignatureParams",
    "StoryDoc",
    "StoryFields",
    "StoryIndex",
    "StoryRule",
    "band_keys",
    "compare",
    "make_signature",
    "order_key",
    "same_story",
    "signature_of",
    "stored_fields",
]
