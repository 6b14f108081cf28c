"""`model.json`: what a model folder holds and how to serve it.

The manifest is the contract between export (which writes it), the stores (which verify
every file against it) and the scorers (which read kind, max_length and activation from it).

ONNX graph contract, for every variant:
- inputs `input_ids`, `attention_mask` and, when the model uses them, `token_type_ids`
  (int64, shape [batch, sequence]);
- a cross-encoder outputs `logits` [batch, labels] (1 label: sigmoid; 2 labels: softmax of
  the positive class, index 1);
- a bi-encoder outputs `embeddings` [batch, hidden], pooled (and normalised when the
  manifest says so) inside the graph;
- a decoder-only yes/no reranker (`prompt` set) is a cross-encoder whose `logits` are the
  ["no", "yes"] logits at each row's last real token (softmax of class 1 = P("yes")); its rows
  are the prompt template filled with instruction, query and document, right-padded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reranker.errors import ConfigurationError

MANIFEST_NAME = "model.json"
ModelKind = Literal["cross-encoder", "bi-encoder"]
Activation = Literal["sigmoid", "softmax", "identity"]
Pooling = Literal["mean", "cls", "max"]


class FileEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)


def safe_relative_path(name: str) -> str:
    """Return `name` if it is a plain relative path inside the folder, else raise ValueError."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or "\\" in name or any(p in ("..", ".", "") for p in path.parts):
        raise ValueError(f"file name {name!r} must be a relative path inside the model folder")
    return name


PLACEHOLDERS = ("{instruction}", "{query}", "{document}")


class PromptTemplate(BaseModel):
    """How a decoder-only yes/no reranker reads a pair: the text around its parts, and the answer ids.

    `template` holds `{query}` and `{document}` once each, in that order, and optionally one
    `{instruction}` before them; everything else is fixed text (chat markers, system prompt)
    that truncation never cuts.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str = Field(min_length=1)
    default_instruction: str | None = None
    yes_token_id: int = Field(ge=0)
    no_token_id: int = Field(ge=0)

    @field_validator("template")
    @classmethod
    def _placeholders(cls, template: str) -> str:
        counts = {p: template.count(p) for p in PLACEHOLDERS}
        if counts["{query}"] != 1 or counts["{document}"] != 1 or counts["{instruction}"] > 1:
            raise ValueError(f"the prompt template needs {{query}} and {{document}} once each, got {counts}")
        positions = [template.find(p) for p in PLACEHOLDERS if p in template]
        if positions != sorted(positions):
            raise ValueError("the prompt template must read {instruction}, {query}, {document} in that order")
        return template

    @property
    def takes_instruction(self) -> bool:
        return "{instruction}" in self.template


class Manifest(BaseModel):
    """The parsed `model.json`; unknown keys are rejected so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format_version: Literal[1] = 1
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    version: str = Field("1", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    aliases: list[str] = Field(default_factory=list)
    kind: ModelKind
    max_length: int = Field(ge=8, le=32_768)
    activation: Activation = "sigmoid"
    pooling: Pooling | None = None
    normalize: bool = True
    tokenizer: str = "tokenizer.json"
    variants: dict[Literal["fp32", "int8"], str]
    # OpenVINO IR graphs (an `.xml` whose weights are the `.bin` beside it), by variant: "int8" is
    # static int8, its activation ranges calibrated at export. fp32 and bf16 run `variants["fp32"]`.
    openvino: dict[Literal["int8"], str] = Field(default_factory=dict)
    files: dict[str, FileEntry]
    source: str | None = None
    # sha256 over the checkpoint's weight files: names the weights whatever exported them.
    source_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    export: dict[str, object] = Field(default_factory=dict)
    # The Hugging Face model_type (bert, electra, deberta-v2, modernbert, qwen3, ...); None in
    # folders exported before it was recorded.
    family: str | None = None
    prompt: PromptTemplate | None = None

    @field_validator("files")
    @classmethod
    def _safe_names(cls, files: dict[str, FileEntry]) -> dict[str, FileEntry]:
        for name in files:
            safe_relative_path(name)
        return files

    def model_post_init(self, __context: object) -> None:
        ir_files = [name for xml in self.openvino.values() for name in (xml, openvino_weights(xml))]
        for needed in [self.tokenizer, *self.variants.values(), *ir_files]:
            if needed not in self.files:
                raise ValueError(f"{needed!r} is used by the manifest but not listed in files")

    @property
    def takes_instruction(self) -> bool:
        """Return whether requests may send an instruction (prompted models whose template has one)."""
        return self.prompt is not None and self.prompt.takes_instruction

    def to_json(self) -> str:
        # An empty `openvino` is left out, so folders exported without it keep their bytes.
        unset = set() if self.openvino else {"openvino"}
        return self.model_dump_json(indent=2, exclude_none=True, exclude=unset) + "\n"

    def fingerprint(self, variant: str) -> str | None:
        """Return a sha256 naming what scores: the weights, how they are read, and the variant.

        It stays the same when the same checkpoint is exported again by other library versions
        (whose ONNX bytes differ), so a relevance gate can name the model it was measured on.
        None for folders exported before weights were hashed.
        """
        if self.source_sha256 is None:
            return None
        identity: dict[str, object] = {
            "weights": self.source_sha256,
            "kind": self.kind,
            "max_length": self.max_length,
            "activation": self.activation,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "variant": variant,
        }
        if self.prompt is not None:  # only then: older folders keep their fingerprints
            identity["prompt"] = self.prompt.model_dump()
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def openvino_weights(xml: str) -> str:
    """Return the `.bin` file OpenVINO reads beside an IR `.xml` file."""
    if not xml.endswith(".xml"):
        raise ValueError(f"OpenVINO graph {xml!r} must be an .xml file")
    return xml[: -len(".xml")] + ".bin"


def parse_manifest(raw: bytes | str, *, origin: str) -> Manifest:
    """Return the manifest parsed from `raw`; `origin` names it in the error, never a path."""
    try:
        return Manifest.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        raise ConfigurationError(f"model manifest of {origin} is invalid: {exc}") from exc


def sha256_file(path: Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entry(path: Path) -> FileEntry:
    return FileEntry(sha256=sha256_file(path), size=path.stat().st_size)


def weights_sha256(checkpoint: Path) -> str | None:
    """Return one sha256 over a checkpoint folder's weight files (safetensors or PyTorch bins)."""
    files = sorted([*checkpoint.glob("*.safetensors"), *checkpoint.glob("pytorch_model*.bin")])
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()
