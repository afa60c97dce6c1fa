"""What a landing file is, from its name: its format (delimited, JSON lines, Parquet), its
dialect, and its compression; and how to stream its bytes whatever the compression."""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import zstandard

from deployment.errors import BayeslineError

FormatKind = Literal["delimited", "jsonl", "parquet"]
Compression = Literal["gzip", "zstd"]

CSV_DIALECTS = {
    ".csv": {"delim": ",", "quote": '"', "escape": '"'},
    # TSV as most tools write it: no quoting, so a quote character is just text.
    ".tsv": {"delim": "\t", "quote": "", "escape": ""},
    ".txt": {"delim": "\t", "quote": "", "escape": ""},
}
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
COMPRESSION_SUFFIXES: dict[str, Compression] = {".gz": "gzip", ".zst": "zstd"}
#: What reading a damaged or truncated compressed file raises.
DECOMPRESSION_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error, zstandard.ZstdError)


class UnreadableFileError(BayeslineError, ValueError):
    """The file as a whole cannot be ingested; the message says why and what to do."""


@dataclass(frozen=True)
class LandingFormat:
    kind: FormatKind
    suffix: str  # the format's own suffix, compression left out: ".csv", ".jsonl"...
    compression: Compression | None = None

    @property
    def dialect(self) -> dict[str, str]:
        return CSV_DIALECTS[self.suffix]


def landing_format(path: Path) -> LandingFormat:
    """The format of `path` from its suffixes (`a.csv.gz` is gzip-compressed CSV)."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = COMPRESSION_SUFFIXES.get(suffixes[-1]) if suffixes else None
    inner = suffixes[-2] if compression and len(suffixes) > 1 else None
    suffix = inner if compression else (suffixes[-1] if suffixes else "")
    if suffix in CSV_DIALECTS:
        return LandingFormat("delimited", suffix, compression)
    if suffix in JSONL_SUFFIXES:
        return LandingFormat("jsonl", suffix, compression)
    if suffix in PARQUET_SUFFIXES and not compression:
        return LandingFormat("parquet", suffix)
    if suffix in PARQUET_SUFFIXES:
        raise UnreadableFileError(
            f"compressed Parquet '{path.name}': Parquet compresses itself; land the plain "
            ".parquet file"
        )
    shown = "".join(path.suffixes[-2:] if compression else path.suffixes[-1:]) or path.name
    raise UnreadableFileError(
        f"unsupported file type '{shown}': land CSV (.csv), TSV (.tsv, .txt), JSON lines "
        "(.jsonl, .ndjson) or Parquet (.parquet) files; CSV, TSV and JSON lines may be "
        "compressed (.gz, .zst)"
    )


def open_landing_bytes(path: Path, landing: LandingFormat) -> io.BufferedIOBase:
    """The file's uncompressed bytes as a stream: nothing is decompressed ahead of reading."""
    if landing.compression == "gzip":
        return gzip.open(path, "rb")
    if landing.compression == "zstd":
        # The zstd reader has no readline(); a buffer over it gives one. It closes the file.
        compressed = open(path, "rb")  # noqa: SIM115
        raw = zstandard.ZstdDecompressor().stream_reader(compressed, closefd=True)
        return io.BufferedReader(raw)
    return open(path, "rb")


def count_lines(path: Path, landing: LandingFormat, chunk_size: int = 1 << 20) -> int:
    """Physical lines in the file (a last line without a line ending counts), read in chunks."""
    lines, last = 0, b"\n"
    with open_landing_bytes(path, landing) as stream:
        while chunk := stream.read(chunk_size):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def refuse_empty_or_utf16(path: Path, landing: LandingFormat, chunk_size: int = 1 << 16) -> None:
    """Refuse a text file that is empty (or only blank) or UTF-16, reading only its start."""
    with open_landing_bytes(path, landing) as stream:
        head = stream.read(chunk_size)
        if head.startswith(UTF16_BOMS) or b"\x00" in head.split(b"\n", 1)[0]:
            raise UnreadableFileError(
                "the file looks UTF-16 encoded (NUL bytes in its first line): save it as UTF-8 "
                "and land it again"
            )
        while head and not head.strip():
            head = stream.read(chunk_size)
    if not head:
        raise UnreadableFileError(
            "the file is empty (nothing but blank lines): land it again with its rows"
        )
