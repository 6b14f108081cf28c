"""Token budgets and truncation for queries and documents.

Texts are encoded without special tokens and cut to their budgets on the side the request
asks for; then the tokenizer's own frame ([CLS] q [SEP] d [SEP] for BERT, <s> q </s></s> d </s>
for RoBERTa, learnt once from its post-processor) is put around them. So the specials are
always present and the query is never dropped to make room for a document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tokenizers import Tokenizer

from reranker.choices import Truncate
from reranker.errors import ConfigurationError, InvalidRequest
from reranker.request import ChunkOptions
from reranker.scoring.chunking import chunk_documents


@dataclass(frozen=True)
class Encoded:
    """Model inputs of one sequence, before padding."""

    ids: list[int]
    type_ids: list[int]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class _Frame:
    """Special tokens around one or two segments, with the type id of each part."""

    parts: tuple[list[int], ...]
    part_types: tuple[int, ...]
    segment_types: tuple[int, ...]

    @property
    def specials(self) -> int:
        return sum(len(part) for part in self.parts)

    def wrap(self, *segments: list[int]) -> Encoded:
        ids: list[int] = list(self.parts[0])
        type_ids: list[int] = [self.part_types[0]] * len(self.parts[0])
        for segment, segment_type, part, part_type in zip(
            segments, self.segment_types, self.parts[1:], self.part_types[1:], strict=True
        ):
            ids += segment
            type_ids += [segment_type] * len(segment)
            ids += part
            type_ids += [part_type] * len(part)
        return Encoded(ids=ids, type_ids=type_ids)


# Characters read per token of budget before tokenizing (prose runs at 4-5 per WordPiece token).
CUT_CHARS_PER_TOKEN = 8
# How far back from the cut a whitespace is looked for, so that no word is split.
_CUT_SLACK = 64


def cut_text(text: str, limit: int, truncate: Truncate) -> str:
    """Return about `limit` characters of `text` cut at a space: its start, its end under "start"."""
    if len(text) <= limit:
        return text
    if truncate == "start":
        tail = text[len(text) - limit :]
        space = next((i for i, c in enumerate(tail[:_CUT_SLACK]) if c.isspace()), 0)
        return tail[space:]
    head = text[:limit]
    for back in range(len(head) - 1, max(-1, len(head) - 1 - _CUT_SLACK), -1):
        if head[back].isspace():
            return head[:back]
    return head


def load_tokenizer(path: str) -> Tokenizer:
    """Return the fast tokenizer saved at export, with its own truncation and padding off."""
    try:
        tokenizer = Tokenizer.from_file(path)
    except Exception as exc:
        raise ConfigurationError(f"tokenizer file is unreadable: {exc}") from exc
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def pad_token_id(tokenizer: Tokenizer) -> int:
    for token in ("[PAD]", "<pad>", "<|pad|>"):
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return int(token_id)
    return 0


def _learn_frame(tokenizer: Tokenizer, pair: bool) -> _Frame:
    """Return the frame the post-processor puts around marker segments."""
    markers = [tokenizer.encode(word, add_special_tokens=False) for word in ("query", "passage")]
    markers = markers if pair else markers[:1]
    framed = tokenizer.post_process(markers[0], markers[1] if pair else None)
    ids, types = framed.ids, framed.type_ids
    parts: list[list[int]] = []
    part_types: list[int] = []
    segment_types: list[int] = []
    cursor = 0
    for marker in markers:
        start = _find(ids, marker.ids, cursor)
        parts.append(ids[cursor:start])
        part_types.append(types[cursor] if start > cursor else types[start])
        segment_types.append(types[start])
        cursor = start + len(marker.ids)
    parts.append(ids[cursor:])
    part_types.append(types[cursor] if cursor < len(types) else segment_types[-1])
    return _Frame(tuple(parts), tuple(part_types), tuple(segment_types))


def _find(haystack: list[int], needle: list[int], start: int) -> int:
    for position in range(start, len(haystack) - len(needle) + 1):
        if haystack[position : position + len(needle)] == needle:
            return position
    raise ConfigurationError("tokenizer post-processor drops its input; cannot frame pairs")


def cut(
    ids: list[int], fit: int, truncate: Truncate, max_tokens_per_document: int | None, index: int
) -> list[int]:
    """Return document `index`'s ids within `fit` (and the client's cap) on the `truncate` side.

    Under "none" a document past `fit` is rejected naming it; a cap the client asked for still
    cuts, keeping the start.
    """
    budget = min(fit, max_tokens_per_document) if max_tokens_per_document else fit
    if len(ids) <= budget:
        return ids
    if truncate == "none" and len(ids) > fit:
        raise InvalidRequest(
            f"documents[{index}] is {len(ids)} tokens; {fit} fit beside the query "
            'in this model (send truncate "end" or "start" to cut it)',
            param=f"documents[{index}]",
        )
    return ids[len(ids) - budget :] if truncate == "start" else ids[:budget]


class TextEncoder:
    """Encodes queries and documents within a model's `max_length`."""

    def __init__(self, tokenizer: Tokenizer, max_length: int, max_query_tokens: int | None) -> None:
        self._tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id = pad_token_id(tokenizer)
        self._pair = _learn_frame(tokenizer, pair=True)
        self._single = _learn_frame(tokenizer, pair=False)
        pair_room = max_length - self._pair.specials - 1
        if pair_room < 1:
            raise ConfigurationError(f"max_length {max_length} leaves no room for a query")
        # Half the room beside the specials, rounded down: where Hugging Face's `longest_first`
        # cuts a query when query and document are both too long and the document is the longer.
        half_room = (max_length - self._pair.specials) // 2
        self.pair_query_budget = min(max_query_tokens or half_room, pair_room)
        self.single_query_budget = min(max_query_tokens or max_length, max_length - self._single.specials)

    def encode_pairs(
        self,
        query: str,
        documents: Sequence[str],
        truncate: Truncate,
        max_tokens_per_document: int | None,
    ) -> list[Encoded]:
        """Return (query, document) pairs framed for a cross-encoder, each within max_length."""
        query_ids = self._query_ids(query, self.pair_query_budget, truncate)
        fit = self.max_length - self._pair.specials - len(query_ids)
        docs = self._document_ids(documents, fit, truncate, max_tokens_per_document)
        return [self._pair.wrap(query_ids, doc) for doc in docs]

    def encode_query(self, query: str, truncate: Truncate) -> Encoded:
        """Return the query alone, framed for a bi-encoder."""
        return self._single.wrap(self._query_ids(query, self.single_query_budget, truncate))

    def encode_documents(
        self, documents: Sequence[str], truncate: Truncate, max_tokens_per_document: int | None
    ) -> list[Encoded]:
        """Return documents alone, framed for a bi-encoder."""
        fit = self.max_length - self._single.specials
        docs = self._document_ids(documents, fit, truncate, max_tokens_per_document)
        return [self._single.wrap(doc) for doc in docs]

    def encode_pair_windows(
        self,
        query: str,
        documents: Sequence[str],
        truncate: Truncate,
        max_tokens_per_document: int | None,
        chunking: ChunkOptions,
    ) -> tuple[list[Encoded], list[int]]:
        """Return (pairs, owners): one framed pair per document window, and each window's document."""
        query_ids = self._query_ids(query, self.pair_query_budget, truncate)
        fit = self.max_length - self._pair.specials - len(query_ids)
        windows, owners = self._document_windows(documents, fit, truncate, max_tokens_per_document, chunking)
        return [self._pair.wrap(query_ids, window) for window in windows], owners

    def encode_document_windows(
        self,
        documents: Sequence[str],
        truncate: Truncate,
        max_tokens_per_document: int | None,
        chunking: ChunkOptions,
    ) -> tuple[list[Encoded], list[int]]:
        """Return (rows, owners): each document window framed alone, and each window's document."""
        fit = self.max_length - self._single.specials
        windows, owners = self._document_windows(documents, fit, truncate, max_tokens_per_document, chunking)
        return [self._single.wrap(window) for window in windows], owners

    def _query_ids(self, query: str, budget: int, truncate: Truncate) -> list[int]:
        ids: list[int] = self._tokenizer.encode(query, add_special_tokens=False).ids
        if len(ids) <= budget:
            return ids
        if truncate == "none":
            raise InvalidRequest(
                f"query is {len(ids)} tokens; this model takes at most {budget} query tokens "
                '(send truncate "end" or "start" to cut it)',
                param="query",
            )
        return ids[:budget]

    def _document_ids(
        self,
        documents: Sequence[str],
        fit: int,
        truncate: Truncate,
        max_tokens_per_document: int | None,
    ) -> list[list[int]]:
        budget = min(fit, max_tokens_per_document) if max_tokens_per_document else fit
        # Under "none" a document too long must be measured in full, to say how long it is.
        encoded = (
            self._encode_all(documents)
            if truncate == "none"
            else self._encode_cut(documents, budget, truncate)
        )
        return [
            cut(list(ids), fit, truncate, max_tokens_per_document, index) for index, ids in enumerate(encoded)
        ]

    def _encode_all(self, texts: Sequence[str]) -> list[list[int]]:
        return [
            encoding.ids for encoding in self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        ]

    def _encode_cut(self, texts: Sequence[str], budget: int, truncate: Truncate) -> list[list[int]]:
        """Return each text's ids, tokenizing only the part of a long text its budget can use.

        A text is first cut to `budget x CUT_CHARS_PER_TOKEN` characters on the side that is
        kept, at a whitespace; if that part holds fewer than `budget` tokens, the cut is made 4x
        longer and tried again. The `budget` tokens kept are then those of the whole text, and a
        100,000-character document costs about what its budget allows.
        """
        result: list[list[int]] = [[] for _ in texts]
        pending = list(range(len(texts)))
        limit = budget * CUT_CHARS_PER_TOKEN
        while pending:
            parts = [cut_text(texts[i], limit, truncate) for i in pending]
            encodings = self._tokenizer.encode_batch(parts, add_special_tokens=False)
            again: list[int] = []
            for index, part, encoding in zip(pending, parts, encodings, strict=True):
                if len(part) == len(texts[index]) or len(encoding.ids) >= budget:
                    result[index] = encoding.ids
                else:
                    again.append(index)
            pending = again
            limit *= 4
        return result

    def _document_windows(
        self,
        documents: Sequence[str],
        fit: int,
        truncate: Truncate,
        max_tokens_per_document: int | None,
        chunking: ChunkOptions,
    ) -> tuple[list[list[int]], list[int]]:
        # The client's cap applies to the whole document first (on its side, the start under
        # "none"), then what is left is split into windows of what fits beside the query.
        encodings = self._tokenizer.encode_batch(list(documents), add_special_tokens=False)
        capped: list[list[int]] = []
        for encoding in encodings:
            ids: list[int] = encoding.ids
            if max_tokens_per_document and len(ids) > max_tokens_per_document:
                cut = max_tokens_per_document
                ids = ids[len(ids) - cut :] if truncate == "start" else ids[:cut]
            capped.append(ids)
        return chunk_documents(capped, fit, chunking, truncate)
