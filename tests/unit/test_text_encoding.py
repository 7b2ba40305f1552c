import codecs

import pytest

from certflow.core.text_encoding import DecodeError, decode, label

TEXT = "name,email,title,completion_date\nJosé Müller,jose@x.org,Café Société,2026-06-10\n"


@pytest.mark.parametrize(
    ("data", "encoding", "bom"),
    [
        (TEXT.encode(), "utf-8", False),
        (codecs.BOM_UTF8 + TEXT.encode(), "utf-8", True),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16le", True),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16be", True),
        (TEXT.encode("utf-16"), "utf-16le", True),  # Excel's "Unicode text" on Windows
        (TEXT.encode("utf-16-le"), "utf-16le", False),  # no BOM: told by the NULs
        (TEXT.encode("utf-16-be"), "utf-16be", False),
        (TEXT.encode("cp1252"), "windows-1252", False),
        (
            (TEXT + "Ada,a@x.org,Fee €100 – “quoted”,2026-06-10\n").encode("cp1252"),
            "windows-1252",
            False,
        ),
    ],
)
def test_what_spreadsheets_save_is_read(data: bytes, encoding: str, bom: bool) -> None:
    decoded = decode(data)
    assert (decoded.encoding, decoded.bom) == (encoding, bom)
    assert decoded.text.startswith("name,email") and "José Müller" in decoded.text


def test_a_cyrillic_and_a_japanese_file_are_not_read_as_windows_1252() -> None:
    russian = (
        "name,email,title,completion_date\n"
        "Александр Пушкин,a@x.ru,Информатика и вычислительная техника,2026-06-10\n"
        "Мария Иванова,m@x.ru,Экономика,2026-06-10\n"
    )
    assert decode(russian.encode("cp1251")).encoding == "windows-1251"
    assert "Пушкин" in decode(russian.encode("cp1251")).text
    japanese = (
        "name,email,title,completion_date\n"
        "山田太郎,y@x.jp,情報工学,2026-06-10\n"
        "佐藤花子,s@x.jp,経済学,2026-06-10\n"
    )
    assert "山田太郎" in decode(japanese.encode("shift_jis")).text


@pytest.mark.parametrize(
    ("declared", "data", "text_part", "encoding"),
    [
        ("windows-1250", "Łukasz Wiśniewski".encode("cp1250"), "Łukasz", "windows-1250"),
        ("latin-1", "Fee €5".encode("cp1252"), "€", "windows-1252"),  # as browsers read it
        ("ISO-8859-15", "Fee €5".encode("iso8859_15"), "€", "iso8859-15"),
        ("utf-16", "name".encode("utf-16-be"), "name", "utf-16be"),
        ("utf-8", codecs.BOM_UTF16_LE + "name".encode("utf-16-le"), "name", "utf-16le"),  # BOM wins
    ],
)
def test_a_declared_encoding_is_used(
    declared: str, data: bytes, text_part: str, encoding: str
) -> None:
    decoded = decode(data, declared)
    assert text_part in decoded.text
    assert decoded.encoding == encoding


@pytest.mark.parametrize(
    "declared", ["klingon-8", "base64", "rot13", "utf-7", "unicode-escape", "x" * 1000]
)
def test_unknown_or_unsafe_declared_encodings_are_refused_on_that_field(declared: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(b"name", declared)
    assert info.value.reason == "UNKNOWN_ENCODING"
    assert info.value.violations[0].field == "encoding"
    assert len(info.value.message) < 300


@pytest.mark.parametrize(
    ("data", "reason", "said"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "BINARY_FILE", "not text"),
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(200)), "BINARY_FILE", "not text"),  # .xlsx
        ("name,email\nJosé,".encode() + b"\xe9\n", "INVALID_ENCODING", "mixes UTF-8"),
        (b"name\nJos\xe9\nZo" + "ë".encode() + b"\n", "INVALID_ENCODING", "(line 2) is not UTF-8"),
        (b"\xff\xfen\x00a\x00m", "INVALID_ENCODING", "not valid utf-16le"),  # odd length
    ],
)
def test_what_is_not_text_is_refused_with_a_reason(data: bytes, reason: str, said: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.reason == reason
    assert said in info.value.message


def test_a_declared_encoding_the_bytes_do_not_fit_says_where() -> None:
    with pytest.raises(DecodeError) as info:
        decode("name\nJosé\n".encode("cp1252"), "utf-8")
    assert info.value.reason == "INVALID_ENCODING"
    assert "near line 2" in info.value.message


def test_labels() -> None:
    assert [label(n) for n in ("cp1252", "utf-16-le", "UTF8", "shift_jis", "latin_1")] == [
        "windows-1252",
        "utf-16le",
        "utf-8",
        "shift-jis",
        "iso8859-1",
    ]


def test_utf8_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The common case costs one decode and no detection."""
    import certflow.core.text_encoding as module

    monkeypatch.setattr(module, "_not_utf8", lambda *a: pytest.fail("detection ran"))
    assert decode(TEXT.encode()).text == TEXT
