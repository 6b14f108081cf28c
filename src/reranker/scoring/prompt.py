"""Prompt framing for decoder-only yes/no rerankers: template, instruction, budgets, truncation.

The template's fixed text (system prompt, chat markers, and the suffix after the document that
ends where the model answers "yes" or "no") is encoded once and never cut: only the query and
the document give way. Texts are encoded apart from the fixed text; spaces that end a fixed
part move to the start of the text after it, so byte-level BPE sees `": apple"` as `:` and
` apple` exactly as it does when the whole prompt is encoded at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import Tokenizer

from reranker.choices import Truncate
from reranker.errors import ConfigurationError, InvalidRequest
from reranker.manifest import PLACEHOLDERS, PromptTemplate
from reranker.request import ChunkOptions
from reranker.scoring.chunking import chunk_documents
from reranker.scoring.tokenize import Encoded, cut, pad_token_id

_INSTRUCTION, _QUERY, _DOCUMENT = PLACEHOLDERS


def split_template(template: str) -> tuple[list[str], list[str], list[str]]:
    """Return (fixed parts, placeholders, leads): fixed[i] comes before placeholders[i].

    `leads[i]` is the run of spaces taken off the end of fixed[i] to lead the text put there.
    """
    fixed: list[str] = []
    names: list[str] = []
    leads: list[str] = []
    rest = template
    for name in PLACEHOLDERS:
        if name not in rest:
            continue
        before, rest = rest.split(name, 1)
        stripped = before.rstrip(" ")
        fixed.append(stripped)
        leads.append(before[len(stripped) :])
        names.append(name)
    fixed.append(rest)
    return fixed, names, leads


class PromptEncoder:
    """Encodes (instruction, query, document) into a template within a model's `max_length`."""

    def __init__(
        self, tokenizer: Tokenizer, prompt: PromptTemplate, max_length: int, max_query_tokens: int | None
    ) -> None:
        self._tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id = pad_token_id(tokenizer)
        self.default_instruction = prompt.default_instruction or ""
        self.takes_instruction = prompt.takes_instruction
        fixed, self._names, self._leads = split_template(prompt.template)
        self._fixed = [self._encode(part) for part in fixed]
        self.specials = sum(len(part) for part in self._fixed)
        self._max_query_tokens = max_query_tokens
        if self._room(self._instruction_ids(None)) < 2:
            raise ConfigurationError(f"max_length {max_length} leaves no room for a query and a document")

    def _encode(self, text: str) -> list[int]:
        if not text:
            return []
        ids: list[int] = self._tokenizer.encode(text, add_special_tokens=False).ids
        return ids

    def _lead(self, name: str) -> str:
        return self._leads[self._names.index(name)]

    def _instruction_ids(self, instruction: str | None) -> list[int]:
        if not self.takes_instruction:
            return []
        text = self.default_instruction if instruction is None else instruction
        return self._encode(self._lead(_INSTRUCTION) + text)

    def _room(self, instruction_ids: list[int]) -> int:
        return self.max_length - self.specials - len(instruction_ids)

    def _frame(self, instruction_ids: list[int], query_ids: list[int], document_ids: list[int]) -> Encoded:
        texts = {_INSTRUCTION: instruction_ids, _QUERY: query_ids, _DOCUMENT: document_ids}
        ids = list(self._fixed[0])
        for name, part in zip(self._names, self._fixed[1:], strict=True):
            ids += texts[name]
            ids += part
        return Encoded(ids=ids, type_ids=[0] * len(ids))

    def _head(
        self, query: str, truncate: Truncate, instruction: str | None
    ) -> tuple[list[int], list[int], int]:
        """Return (instruction ids, query ids, tokens left for the document)."""
        instruction_ids = self._instruction_ids(instruction)
        room = self._room(instruction_ids)
        if room < 2:
            raise InvalidRequest(
                f"the instruction is {len(instruction_ids)} tokens; this model's prompt leaves room "
                f"for at most {self.max_length - self.specials - 2}",
                param="extra_body.instruction",
            )
        budget = min(self._max_query_tokens or room // 2, room - 1)
        query_ids = self._encode(self._lead(_QUERY) + query)
        if len(query_ids) > budget:
            if truncate == "none":
                raise InvalidRequest(
                    f"query is {len(query_ids)} tokens; this model takes at most {budget} query tokens "
                    '(send truncate "end" or "start" to cut it)',
                    param="query",
                )
            query_ids = query_ids[:budget]
        return instruction_ids, query_ids, room - len(query_ids)

    def _documents(self, documents: Sequence[str]) -> list[list[int]]:
        lead = self._lead(_DOCUMENT)
        encodings = self._tokenizer.encode_batch([lead + d for d in documents], add_special_tokens=False)
        return [list(e.ids) for e in encodings]

    def encode_pairs(
        self,
        query: str,
        documents: Sequence[str],
        truncate: Truncate,
        max_tokens_per_document: int | None,
        instruction: str | None = None,
    ) -> list[Encoded]:
        """Return one prompt per document, each within max_length, the template's text whole."""
        instruction_ids, query_ids, fit = self._head(query, truncate, instruction)
        rows = []
        for index, ids in enumerate(self._documents(documents)):
            rows.append(
                self._frame(
                    instruction_ids, query_ids, cut(ids, fit, truncate, max_tokens_per_document, index)
                )
            )
        return rows

    def encode_pair_windows(
        self,
        query: str,
        documents: Sequence[str],
        truncate: Truncate,
        max_tokens_per_document: int | None,
        chunking: ChunkOptions,
        instruction: str | None = None,
    ) -> tuple[list[Encoded], list[int]]:
        """Return (prompts, owners): one prompt per document window, and each window's document."""
        instruction_ids, query_ids, fit = self._head(query, truncate, instruction)
        capped = []
        for ids in self._documents(documents):
            if max_tokens_per_document and len(ids) > max_tokens_per_document:
                ids = ids[-max_tokens_per_document:] if truncate == "start" else ids[:max_tokens_per_document]
            capped.append(ids)
        windows, owners = chunk_documents(capped, fit, chunking, truncate)
        return [self._frame(instruction_ids, query_ids, window) for window in windows], owners
