"""Page tokens: what we issue reads back; anything else is a clear INVALID_ARGUMENT."""

import base64

import pytest

from certflow.core.errors import InvalidInput
from certflow.platform.pagination import MAX_OFFSET, Page, decode_token, encode_token


def token_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("offset", [0, 1, 100, 999_999, MAX_OFFSET])
def test_tokens_we_issue_read_back(offset: int) -> None:
    assert decode_token(encode_token(offset)) == offset


@pytest.mark.parametrize(
    "token",
    [
        token_of(f"o:{10**30}"),  # an offset no database integer holds
        token_of(f"o:{MAX_OFFSET + 1}"),
        token_of("o:" + "9" * 5000),  # past Python's int-from-string digit limit
        "A" * 100_000,  # a huge token
        token_of("o:-1"),
        token_of("o:+5"),
        token_of("o: 5"),
        token_of("o:1_000"),
        token_of("o:007"),
        token_of("x:5"),
        token_of("o:"),
        "!!!not-base64!!!",
        "b64é",
        token_of("o:١٢٣"),  # Arabic-Indic digits: int() would accept them
        "\x00",
    ],
)
def test_other_tokens_are_invalid_arguments(token: str) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_token(token)
    assert info.value.reason == "INVALID_PAGE_TOKEN"
    assert info.value.violations[0].field == "page_token"


def test_page_sizes() -> None:
    assert Page(0, "").size == 100
    assert Page(5000, "").size == 1000
    with pytest.raises(InvalidInput):
        Page(-1, "")
    page = Page(10, encode_token(20))
    assert (page.offset, page.next_token(10), page.next_token(9)) == (20, encode_token(30), "")
