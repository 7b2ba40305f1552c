"""Files as registrars export them, uploaded over gRPC to the real ingest process: encodings,
dialects, aliased headers, an explicit mapping, day-first dates — each checked in the
certificates ingest stored — and the hostile intake inputs of issue 8, each refused with a
clear status and BadRequest details, writing nothing."""

import codecs
import json
from collections.abc import Iterator
from datetime import date

import grpc
import pytest
from google.rpc import error_details_pb2
from sqlalchemy import select
from sqlalchemy.orm import Session

from certflow.platform.db.engine import make_engine
from certflow.v1 import ingest_service_pb2 as pb
from devstack.client import StackClient, rpc_error_status
from devstack.stack import SERVICES, LocalStack, StackOptions
from services.ingest.tables import Certificate
from tests.conftest import BACKENDS, discard_database, fresh_database_url

CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    backend = BACKENDS[-1]
    state = tmp_path_factory.mktemp(f"intake-{backend}")
    url = fresh_database_url(backend, state)
    with LocalStack(StackOptions(state_dir=state, database_url=url)) as running:
        yield running
    discard_database(url)


@pytest.fixture(scope="module")
def client(stack):
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


@pytest.fixture(scope="module")
def stored(stack):
    """The certificates ingest stored for a batch, by recipient email."""
    engine = make_engine(stack.database_url_of("ingest"))

    def read(batch_id: str) -> dict[str, Certificate]:
        with Session(engine) as session:
            rows = session.scalars(select(Certificate).where(Certificate.batch_id == batch_id))
            return {row.recipient_email: row for row in rows}

    yield read
    engine.dispose()


def upload(
    stack: LocalStack,
    client: StackClient,
    data: bytes,
    request_id: str,
    *,
    encoding: str = "",
    mapping: dict[str, str] | None = None,
    date_order: pb.DateOrder = pb.DATE_ORDER_UNSPECIFIED,
) -> pb.UploadCsvResponse:
    def messages() -> Iterator[pb.UploadCsvRequest]:
        yield pb.UploadCsvRequest(
            metadata=pb.UploadCsvMetadata(
                request_id=request_id,
                encoding=encoding,
                column_mapping=mapping or {},
                date_order=date_order,
            )
        )
        for start in range(0, len(data), CHUNK):
            yield pb.UploadCsvRequest(chunk=data[start : start + CHUNK])

    metadata = (("authorization", f"Bearer {stack.token}"),)
    response: pb.UploadCsvResponse = client.ingest.UploadCsv(
        messages(), metadata=metadata, timeout=120
    )
    return response


def document(certificate: Certificate) -> dict:
    return json.loads(certificate.document)


# ---- what registrars export ----


def test_a_windows_1252_export_is_detected_and_stored_in_unicode(stack, client, stored) -> None:
    data = (
        "name,email,title,completion_date\r\n"
        "José Müller,jose.1252@example.org,Diplôme d'études,2026-06-10\r\n"
        "Zoë Ångström,zoe.1252@example.org,Café société – “advanced”,2026-06-10\r\n"
    ).encode("cp1252")
    response = upload(stack, client, data, "intake-1252")
    assert (response.encoding, response.delimiter) == ("windows-1252", ",")
    assert response.batch.accepted_count == 2 and not response.row_errors
    got = stored(response.batch.batch_id)
    assert got["jose.1252@example.org"].recipient_name == "José Müller"
    assert got["zoe.1252@example.org"].title == "Café société – “advanced”"


def test_excel_unicode_text_utf16_with_tabs_is_read(stack, client, stored) -> None:
    data = codecs.BOM_UTF16_LE + (
        "Full Name\tE-mail\tCourse\tCompletion Date\r\n"
        "Aiko Tanaka 田中\taiko.u16@example.org\t情報工学\t2026-06-10\r\n"
    ).encode("utf-16-le")
    response = upload(stack, client, data, "intake-utf16")
    assert (response.encoding, response.delimiter) == ("utf-16le", "\t")
    certificate = stored(response.batch.batch_id)["aiko.u16@example.org"]
    assert (certificate.recipient_name, certificate.title) == ("Aiko Tanaka 田中", "情報工学")


def test_semicolons_with_quoted_delimiters_and_newlines(stack, client, stored) -> None:
    data = (
        "\ufeffname;email;title;completion_date;notes\r\n"
        '"Lovelace; Ada";ada.semi@example.org;"BSc; Mathematics";2026-06-10;'
        '"line one\nline two"\r\n'
        "Bob Semi;bob.semi@example.org;BSc;2026-06-10;\r\n"
        "\r\n\r\n"
    ).encode()
    response = upload(stack, client, data, "intake-semicolon")
    assert (response.encoding, response.delimiter) == ("utf-8", ";")
    assert response.batch.accepted_count == 2 and not response.row_errors
    ada = stored(response.batch.batch_id)["ada.semi@example.org"]
    assert (ada.recipient_name, ada.title) == ("Lovelace; Ada", "BSc; Mathematics")
    assert document(ada)["credentialSubject"]["customFields"] == {"notes": "line one\nline two"}


def test_aliased_headers_feed_the_certificate_fields(stack, client, stored) -> None:
    data = (
        b"Full Name,Email Address,Course Name,Completed,Expires,Student-ID\n"
        b"Ada Alias,ada.alias@example.org,BSc Alias,2026-06-10,2031-06-10,S-1\n"
    )
    response = upload(stack, client, data, "intake-aliases")
    certificate = stored(response.batch.batch_id)["ada.alias@example.org"]
    assert certificate.recipient_name == "Ada Alias"
    assert certificate.title == "BSc Alias"
    assert (certificate.completion_date, certificate.expiry_date) == (
        date(2026, 6, 10),
        date(2031, 6, 10),
    )
    assert document(certificate)["credentialSubject"]["customFields"] == {"student_id": "S-1"}


def test_an_explicit_mapping_names_renames_and_drops_columns(stack, client, stored) -> None:
    data = (
        b"Learner,Contact,Programme,Finished,Certificate,Date of Birth\n"
        b"Ada Mapped,ada.map@example.org,BSc Mapped,2026-06-10,CERT-77,1815-12-10\n"
    )
    mapping = {
        "learner": "name",
        "Contact": "email",
        "Programme": "title",
        "Finished": "completion_date",
        "Certificate": "certificate_number",
        "Date of Birth": "",
    }
    response = upload(stack, client, data, "intake-mapping", mapping=mapping)
    assert response.batch.accepted_count == 1, response.row_errors
    certificate = stored(response.batch.batch_id)["ada.map@example.org"]
    assert certificate.recipient_name == "Ada Mapped"
    custom = document(certificate)["credentialSubject"]["customFields"]
    assert custom == {"certificate_number": "CERT-77"}  # the date of birth was dropped


def test_day_first_dates_are_read_with_the_declared_order(stack, client, stored) -> None:
    data = (
        b"name,email,title,completion_date,expiry_date\n"
        b"Ada Day,ada.day@example.org,BSc,10/06/2026,10.06.2031\n"
        b"Bob Day,bob.day@example.org,BSc,25/06/2026,\n"
        b'Cy Day,cy.day@example.org,BSc,10 Jun 2026,"June 10, 2031"\n'
    )
    undeclared = upload(stack, client, data, "intake-dates-undeclared")
    assert {(e.row_number, e.field, e.reason) for e in undeclared.row_errors} == {
        (2, "completion_date", "AMBIGUOUS_DATE"),
        (2, "expiry_date", "AMBIGUOUS_DATE"),
    }
    data = data.replace(b"@example.org", b"@example.net")
    response = upload(stack, client, data, "intake-dates", date_order=pb.DATE_ORDER_DAY_FIRST)
    assert response.batch.accepted_count == 3, response.row_errors
    got = stored(response.batch.batch_id)
    assert got["ada.day@example.net"].completion_date == date(2026, 6, 10)
    assert got["ada.day@example.net"].expiry_date == date(2031, 6, 10)
    assert got["bob.day@example.net"].completion_date == date(2026, 6, 25)
    assert document(got["ada.day@example.net"])["validFrom"].startswith("2026-06-10")


def test_names_are_normalised_warned_about_and_expired_certificates_refused(
    stack, client, stored
) -> None:
    data = (
        b"name,email,title,completion_date,expiry_date\n"
        b'"  ADA   LOVELACE ",ada.warn@example.org,BSc,2026-06-10,\n'
        b"Agent 007,r2.warn@example.org,BSc,2026-06-10,\n"
        b"Old Cert,old.warn@example.org,BSc,2020-06-10,2021-06-10\n"
    )
    response = upload(stack, client, data, "intake-warnings")
    assert [(e.row_number, e.reason) for e in response.row_errors] == [(4, "EXPIRED_AT_ISSUE")]
    assert {(w.row_number, w.field, w.code) for w in response.warnings} == {
        (2, "name", "NAME_ALL_CAPITALS"),
        (3, "name", "NAME_HAS_DIGITS"),
    }
    assert response.warning_count == 2
    got = stored(response.batch.batch_id)
    assert got["ada.warn@example.org"].recipient_name == "ADA LOVELACE"
    assert "old.warn@example.org" not in got


def test_issue_certificate_applies_the_same_rules(stack, client) -> None:
    metadata = (("authorization", f"Bearer {stack.token}"),)
    request = pb.IssueCertificateRequest(
        request_id="intake-issue-1",
        recipient_name=" ADA  LOVELACE",
        recipient_email="ada.issue.intake@example.org",
        title="BSc",
        completion_date="10/06/2026",
        date_order=pb.DATE_ORDER_DAY_FIRST,
    )
    response = client.ingest.IssueCertificate(request, metadata=metadata, timeout=30)
    assert response.certificate.recipient_name == "ADA LOVELACE"
    assert json.loads(response.certificate.document_json)["validFrom"].startswith("2026-06-10")
    assert [w.code for w in response.warnings] == ["NAME_ALL_CAPITALS"]
    changes: list[tuple[dict[str, str], str]] = [
        ({"completion_date": "10/06/2026"}, "completion_date"),  # no date order: ambiguous
        ({"expiry_date": "2020-01-01"}, "expiry_date"),
    ]
    for change, field in changes:
        bad = pb.IssueCertificateRequest(
            recipient_name="Ada",
            recipient_email="ada.issue.bad@example.org",
            title="BSc",
            completion_date="2026-06-10",
        )
        for key, value in change.items():
            setattr(bad, key, value)
        with pytest.raises(grpc.RpcError) as refused:
            client.ingest.IssueCertificate(bad, metadata=metadata, timeout=30)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in violations(refused.value)


# ---- hostile intake inputs (issue 8, "Bad input") ----

HEADER = "name,email,title,completion_date\n"
VALID = "Valid Row,valid.{tag}@example.org,Hostile Intake,2026-06-10\n"


def violations(error: grpc.RpcError) -> dict[str, str]:
    bad_request = error_details_pb2.BadRequest()
    status = rpc_error_status(error)
    assert status is not None and any(d.Unpack(bad_request) for d in status.details), status
    return {v.field: v.description for v in bad_request.field_violations}


def reason_of(error: grpc.RpcError) -> str:
    info = error_details_pb2.ErrorInfo()
    status = rpc_error_status(error)
    assert status is not None and any(d.Unpack(info) for d in status.details), status
    return info.reason


REFUSED: dict[str, tuple[bytes, dict[str, object], str, str, str]] = {
    # case: (file, metadata options, reason, violation field, part of its description)
    "binary file": (
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        {},
        "BINARY_FILE",
        "file",
        "not text",
    ),
    "CRLF CRLF only": (b"\r\n\r\n", {}, "EMPTY_FILE", "file", "empty"),
    "duplicate headers": (
        (HEADER.replace("title", "title,Title") + "A,a@x.org,T,T,2026-06-10\n").encode(),
        {},
        "INVALID_HEADER",
        "file",
        "are the same column",
    ),
    "case-colliding and aliased headers": (
        (b"Name,Full Name,email,title,completion_date\nA,B,a@x.org,T,2026-06-10\n"),
        {},
        "INVALID_HEADER",
        "file",
        "could each be 'name'",
    ),
    "a mapping naming absent columns": (
        (HEADER + VALID.format(tag="map")).encode(),
        {"mapping": {"Learner": "name"}},
        "INVALID_HEADER",
        "column_mapping['Learner']",
        "the file has no column 'Learner'",
    ),
    "two columns mapped to one field": (
        (HEADER + VALID.format(tag="map2")).encode(),
        {"mapping": {"name": "name", "title": "name"}},
        "INVALID_COLUMN_MAPPING",
        "column_mapping['title']",
        "are all mapped to 'name'",
    ),
    "an unknown declared encoding": (
        (HEADER + VALID.format(tag="enc")).encode(),
        {"encoding": "klingon-8"},
        "UNKNOWN_ENCODING",
        "encoding",
        "not a text encoding",
    ),
    "a million-column header": (
        ("c," * 1_000_000 + "c\n").encode(),
        {},
        "TOO_MANY_COLUMNS",
        "file",
        "1000001 columns",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_hostile_files_are_refused_whole_with_bad_request_details(stack, client, case: str) -> None:
    data, options, reason, field, said = REFUSED[case]
    request_id = f"intake-hostile-{case}"
    with pytest.raises(grpc.RpcError) as refused:
        upload(stack, client, data, request_id, **options)  # type: ignore[arg-type]
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    assert reason_of(refused.value) == reason
    assert said in violations(refused.value)[field]
    # nothing was stored under the request id: the same id makes a new batch now
    probe = upload(stack, client, (HEADER + "P,not-an-email,T,2026-06-10\n").encode(), request_id)
    assert probe.batch.row_count == 1 and probe.batch.rejected_count == 1


def test_a_million_column_line_and_a_100_kb_field_are_row_errors(stack, client, stored) -> None:
    data = (
        HEADER
        + "x," * 1_000_000  # a million and one cells
        + "\n"
        + f"Big,big.field@example.org,{'x' * 100_000},2026-06-10\n"
        + VALID.format(tag="rows")
    ).encode()
    response = upload(stack, client, data, "intake-wide-rows")
    assert {(e.row_number, e.reason) for e in response.row_errors} == {
        (2, "UNREADABLE_ROW"),
        (3, "UNREADABLE_ROW"),
    }
    assert list(stored(response.batch.batch_id)) == ["valid.rows@example.org"]


def test_bidi_zero_width_names_are_refused_and_idn_domains_kept(stack, client, stored) -> None:
    data = (
        HEADER
        + "Ada \u202eecalevoL,rtl.intake@example.org,T,2026-06-10\n"
        + "Ada\u200b Lovelace,zw.intake@example.org,T,2026-06-10\n"
        + "Idn Intake,idn.intake@bücher.example,T,2026-06-10\n"
    ).encode()
    response = upload(stack, client, data, "intake-unicode")
    assert {(e.row_number, e.field, e.reason) for e in response.row_errors} == {
        (2, "name", "UNSAFE_CHARACTERS"),
        (3, "name", "UNSAFE_CHARACTERS"),
    }
    assert list(stored(response.batch.batch_id)) == ["idn.intake@bücher.example"]


def test_ingest_is_still_serving(stack, client) -> None:
    stack.processes["ingest"].check_alive()
    data = (HEADER + VALID.format(tag="after")).encode()
    assert upload(stack, client, data, "intake-after").batch.accepted_count == 1
