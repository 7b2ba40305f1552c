"""Bytes of an uploaded file → text: a declared encoding, a byte-order mark, or detection.

Order: a BOM wins (as in the WHATWG encoding standard); then the client's declared encoding;
then UTF-16 without a BOM (ASCII leaves a NUL in every other byte); then UTF-8, decoded once —
the common case costs one decode; only a file that is not UTF-8 is examined further. What
spreadsheets save when not UTF-8 is almost always Windows-1252 ("ANSI" on Western Windows);
charset-normalizer tells that apart from Cyrillic, Greek, CJK… code pages, but on a few accented
names it cannot tell the Latin code pages from each other (Polish windows-1250 and Western
windows-1252 decode the same bytes to different but plausible letters), so among those we read
windows-1252 and say so: the response names the encoding used, and a client declares another.
"""

import codecs
import re
from dataclasses import dataclass

import charset_normalizer
from charset_normalizer.cd import encoding_unicode_range, is_multi_byte_encoding

from certflow.core.errors import FieldViolation

MAX_ENCODING_NAME = 64
DETECTION_SAMPLE_BYTES = 64 * 1024  # ~600 rows: enough to tell, ~10 ms to examine
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# text codecs that turn escapes or ASCII into arbitrary characters: never for a CSV file
_REFUSED_CODECS = {"utf-7", "unicode-escape", "raw-unicode-escape", "idna", "punycode"}
_LATIN1 = {"latin-1", "iso8859-1"}
# a character of two to four bytes in UTF-8: in text of a single-byte code page such pairs are
# a letter followed by a symbol from 0x80–0xBF ("Ã©"), which names do not have
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
# bytes that do not occur in text files in any single-byte encoding people use
_BINARY_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1A), *range(0x1C, 0x20)])


class DecodeError(ValueError):
    def __init__(self, reason: str, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.violations = [FieldViolation(field, message)]


@dataclass(frozen=True, slots=True)
class DecodedText:
    text: str
    encoding: str  # the label of what was used: "utf-8", "utf-16le", "windows-1252", …
    bom: bool


def label(codec_name: str) -> str:
    """A familiar name for a Python codec: "cp1252" → "windows-1252", "utf-16-le" → "utf-16le"."""
    name = codecs.lookup(codec_name).name
    if name.startswith("cp125") and len(name) == 6:
        return f"windows-{name[2:]}"
    if name.startswith(("utf-16-", "utf-32-")):
        return name[:6] + name[7:]
    return name.replace("_", "-")


def looks_like_utf16(data: bytes) -> str | None:
    """ "utf-16-le"/"utf-16-be" when ASCII-heavy text shows a NUL in every other byte."""
    sample = data[:4096]
    half = len(sample) // 2
    if half < 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if max(even, odd) <= half * 0.4 or min(even, odd) > half * 0.05:
        return None
    return "utf-16-be" if even > odd else "utf-16-le"


def declared_codec(name: str) -> str:
    """The Python codec for a client's encoding name; refuses unknown and unsafe ones."""
    try:
        info = codecs.lookup(name.strip())
    except (LookupError, ValueError):
        info = None
    if (
        len(name) > MAX_ENCODING_NAME
        or info is None
        or not getattr(info, "_is_text_encoding", True)
        or info.name in _REFUSED_CODECS
    ):
        raise DecodeError(
            "UNKNOWN_ENCODING",
            f"{name[:MAX_ENCODING_NAME]!r} is not a text encoding we read "
            "(e.g. utf-8, utf-16, windows-1252, iso-8859-15, shift_jis); empty to detect",
            field="encoding",
        )
    return info.name


def decode(data: bytes, declared: str = "") -> DecodedText:
    """The file's text; raises DecodeError when it is not text or not in that encoding."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return DecodedText(_strict(data[len(bom) :], codec), label(codec), bom=True)
    if declared:
        codec = declared_codec(declared)
        if codec in {"utf-16", "utf-32"}:  # no BOM: the byte order from the NULs
            codec = looks_like_utf16(data) or f"{codec}-le"
        if codec in _LATIN1:  # as browsers do: "latin-1" files are windows-1252 in practice
            try:
                return DecodedText(data.decode("cp1252"), "windows-1252", bom=False)
            except UnicodeDecodeError:
                pass
        return DecodedText(_strict(data, codec), label(codec), bom=False)
    if utf16 := looks_like_utf16(data):
        return DecodedText(_strict(data, utf16), label(utf16), bom=False)
    try:
        return DecodedText(data.decode("utf-8"), "utf-8", bom=False)
    except UnicodeDecodeError as exc:
        return _not_utf8(data, exc)


def _not_utf8(data: bytes, error: UnicodeDecodeError) -> DecodedText:
    sample = data[:DETECTION_SAMPLE_BYTES]
    head = sample[:4096]
    if len(head.translate(None, _BINARY_BYTES)) != len(head) or b"\x00" in data:
        raise DecodeError("BINARY_FILE", "the file is not text (it has control bytes)")
    codec = _detected_codec(sample)
    if codec is None:
        raise DecodeError(
            "INVALID_ENCODING",
            "the file is not UTF-8 and its encoding cannot be recognised; save it as UTF-8 "
            "or declare its encoding",
        )
    # read as windows-1252 yet holding UTF-8 characters too: a damaged or pasted-together file,
    # part of which would silently become mojibake ("JosÃ©")
    if codec == "cp1252" and _UTF8_SEQUENCE.search(data):
        line = data[: error.start].count(b"\n") + 1
        raise DecodeError(
            "INVALID_ENCODING",
            f"the file mixes UTF-8 with another encoding: byte {error.start} (line {line}) is "
            "not UTF-8 but other characters are; save it again as UTF-8 (or declare its encoding)",
        )
    return DecodedText(_strict(data, codec), label(codec), bom=False)


def _detected_codec(sample: bytes) -> str | None:
    cut = sample.rfind(b"\n") if len(sample) == DETECTION_SAMPLE_BYTES else -1
    matches = charset_normalizer.from_bytes(sample[: cut + 1] if cut > 0 else sample)
    fits_windows_1252 = _decodes(sample, "cp1252")
    if fits_windows_1252 and any("cp1252" in m.could_be_from_charset for m in matches):
        return "cp1252"
    best = matches.best()
    if best is None:
        return "cp1252" if fits_windows_1252 else None
    if fits_windows_1252 and _latin_code_page(best.encoding):
        return "cp1252"
    return str(best.encoding)


def _latin_code_page(codec: str) -> bool:
    return not is_multi_byte_encoding(codec) and encoding_unicode_range(codec) == ["Basic Latin"]


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _strict(data: bytes, codec: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DecodeError(
            "INVALID_ENCODING",
            f"the file is not valid {label(codec)}: byte {exc.start} (near line {line}) "
            f"cannot be read ({exc.reason}); save it as UTF-8 or declare its encoding",
        ) from exc
