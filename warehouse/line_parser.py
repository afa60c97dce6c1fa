"""The careful path for a file DuckDB's fast reader gives up on: physical lines read one at a
time (no line is ever held past `MAX_RECORD_BYTES`), grouped into records and parsed in Python
(warehouse/line_staging.py writes them to DuckDB). It salvages every good row of a file with an
unterminated quote, a field over DuckDB's line limit, mixed CRLF/LF endings or lines that are
not UTF-8."""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from io import BufferedIOBase
from typing import NamedTuple

from warehouse.landing_formats import UnreadableFileError

MAX_RECORD_BYTES = 64 << 20  # one record (a line, or the lines of a quoted value) at most
RAW_KEPT_BYTES = 16 << 10  # of an over-long line, the start kept as its raw text
_DRAIN_CHUNK = 1 << 20

csv.field_size_limit(MAX_RECORD_BYTES)


class Line(NamedTuple):  # a tuple: one is made per line, and a dataclass costs more
    number: int
    data: bytes  # without its line ending; only the start when the line is too long
    ending: bytes  # b"\n", b"\r\n", or b"" for a last line with none
    size: int  # the whole line's length in bytes

    @property
    def too_long(self) -> bool:
        return self.size > MAX_RECORD_BYTES


class Parsed(NamedTuple):
    line: int  # the line the record starts on
    fields: list[str]
    size: int  # bytes in the file


@dataclass(frozen=True)
class Broken:
    line: int
    raw: str
    error_type: str
    reason: str


def physical_lines(stream: BufferedIOBase) -> Iterator[Line]:
    """Every line of `stream`, numbered from 1; an over-long line is cut, never held whole."""
    number = 0
    while chunk := stream.readline(MAX_RECORD_BYTES + 1):
        number += 1
        size = len(chunk)
        if size > MAX_RECORD_BYTES and not chunk.endswith(b"\n"):
            while (rest := stream.readline(_DRAIN_CHUNK)) and not rest.endswith(b"\n"):
                size += len(rest)
            size += len(rest)
            chunk = chunk[:RAW_KEPT_BYTES] + (b"\n" if rest else b"")
        ending = _ending(chunk)
        yield Line(number, chunk[: len(chunk) - len(ending)], ending, size)


def _ending(chunk: bytes) -> bytes:
    for ending in (b"\r\n", b"\n", b"\r"):  # a lone CR only ends the file's last line
        if chunk.endswith(ending):
            return ending
    return b""


def decode_line(data: bytes) -> str | Broken:
    """The text of a line, or why it is not UTF-8 (line number filled in by the caller)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return encoding_reject(data, exc)


def encoding_reject(data: bytes, exc: UnicodeDecodeError) -> Broken:
    # Not decoded with a guess: cp1252 and latin-1 read the same bytes differently, and a
    # wrong guess would load mangled text. The reason names the likely encoding instead.
    guess = "cp1252" if _decodes(data, "cp1252") else "latin-1"
    shown = data.decode(guess)
    start = max(0, exc.start - 20)
    context = data[start : exc.start + 20].decode(guess)
    reason = (
        f"not UTF-8: byte 0x{data[exc.start]:02X} at byte {exc.start + 1} of the line "
        f"(read as {guess}: '{context}'); save the file as UTF-8 and land it again"
    )
    return Broken(0, shown, "bad_encoding", reason)


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def shown_text(data: bytes) -> str:
    """A line's bytes as text for the raw column: UTF-8, or latin-1 (which never fails)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class _Lines:
    """Physical lines with push-back, so a record that turned out wrong can be re-read."""

    def __init__(self, lines: Iterator[Line]):
        self._lines = lines
        self._pushed: deque[Line] = deque()

    def next(self) -> Line | None:
        return self._pushed.popleft() if self._pushed else next(self._lines, None)

    def push_back(self, lines: list[Line]) -> None:
        self._pushed.extendleft(reversed(lines))


class DelimitedRecords:
    """Records of a delimited file: the header first (`header`), then `records()`.

    A quoted value may span lines. A quote left open (to the end of the file, past
    MAX_RECORD_BYTES, or into a record with the wrong field count) rejects only the line it
    opened on; reading resumes on the next line, so the rows after it still load.
    """

    def __init__(self, stream: BufferedIOBase, delim: str, quote: str):
        self._lines = _Lines(physical_lines(stream))
        self._delim = delim
        self._quote = quote.encode()
        self.header: list[str] | None = None
        self._read_header()

    def _read_header(self) -> None:
        while (line := self._lines.next()) is not None:
            if line.data.strip():
                try:
                    fields = self._split(_header_text(line))
                except csv.Error as exc:
                    raise UnreadableFileError(f"the header line is malformed CSV: {exc}") from exc
                self.header = [name.strip() for name in fields]
                return

    def records(self) -> Iterator[Parsed | Broken]:
        width = len(self.header or [])
        delim, quote = self._delim, self._quote.decode() or None
        while (first := self._lines.next()) is not None:
            if not first.data and not first.too_long:
                continue  # an empty line is no record
            # Most lines are plain: UTF-8, no quote, the right field count.
            if not first.too_long:
                text = decode_line(first.data)
                if isinstance(text, str) and (quote is None or quote not in text):
                    fields = text.split(delim)
                    if len(fields) == width:
                        yield Parsed(first.number, fields, first.size)
                        continue
            yield self._record(first, width)

    def _record(self, first: Line, width: int) -> Parsed | Broken:
        if first.too_long:
            return _too_long(first)
        parts, size = [first], first.size
        while True:
            data = b"".join([*(p.data + p.ending for p in parts[:-1]), parts[-1].data])
            decoded = decode_line(data)
            bad: Broken | None = None
            if isinstance(decoded, Broken):
                # Parsed all the same, to know where the record ends: the whole of it is then
                # rejected, and none of its lines is read again as a record of its own.
                bad, text = decoded, data.decode("utf-8", "surrogateescape")
            else:
                text = decoded
            try:
                fields = self._split(text)
                break
            except csv.Error as exc:
                if not _ends_inside_quotes(exc):
                    return self._reject_opening_line(parts, f"malformed CSV: {exc}")
            # A quoted value goes on past the line end: the record takes the next lines, up to
            # one with an odd number of quotes (inside a quoted value, only that one can close
            # it), and is parsed again only then, so a long open value costs one pass.
            while True:
                line = self._lines.next()
                if line is None or line.too_long or size + line.size > MAX_RECORD_BYTES:
                    self._lines.push_back([line] if line else [])
                    return self._reject_opening_line(parts, "a quote opened here is never closed")
                parts.append(line)
                size += line.size
                if line.data.count(self._quote) % 2:
                    break
        if bad and (len(fields) == width or len(parts) == 1):
            return Broken(first.number, bad.raw, bad.error_type, bad.reason)
        if len(fields) == width:
            return Parsed(first.number, fields, size)
        if len(parts) > 1:
            return self._reject_opening_line(
                parts,
                f"a quote opened here spans {len(parts)} lines and leaves {len(fields)} "
                f"of {width} fields: it is probably never closed",
            )
        found = f"expected {width} fields, found {len(fields)}"
        return _broken(first, "wrong_column_count", found)

    def _reject_opening_line(self, parts: list[Line], reason: str) -> Broken:
        self._lines.push_back(parts[1:])
        return _broken(parts[0], "malformed_csv", reason)

    def _split(self, text: str) -> list[str]:
        if not self._quote or '"' not in text:
            return text.split(self._delim)
        reader = csv.reader([text], delimiter=self._delim, quotechar='"', strict=True)
        return next(reader, [""])


def _ends_inside_quotes(exc: csv.Error) -> bool:
    # The csv module's strict mode says so when the text ends in an open quoted value.
    return "unexpected end of data" in str(exc)


def _header_text(line: Line) -> str:
    text = decode_line(line.data.removeprefix(b"\xef\xbb\xbf"))
    if isinstance(text, Broken):
        raise UnreadableFileError(f"the header line is {text.reason}")
    return text


def json_lines(stream: BufferedIOBase) -> Iterator[tuple[int, str] | Broken]:
    """(line number, text) of every non-empty line, or why a line cannot be read."""
    for line in physical_lines(stream):
        if line.too_long:
            yield _too_long(line)
            continue
        text = decode_line(line.data)
        if isinstance(text, Broken):
            yield Broken(line.number, text.raw, text.error_type, text.reason)
        elif text.strip():
            yield line.number, text


def _too_long(line: Line) -> Broken:
    return _broken(
        line,
        "line_too_long",
        f"line of {line.size} bytes is over the {MAX_RECORD_BYTES} byte limit "
        f"(raw text: its first {RAW_KEPT_BYTES} bytes); split the value or land it as Parquet",
    )


def _broken(line: Line, error_type: str, reason: str) -> Broken:
    return Broken(line.number, shown_text(line.data), error_type, reason)
