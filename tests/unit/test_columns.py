import pytest

from certflow.core.columns import ColumnError, custom_key, plan_columns


def plan(header: str, mapping: dict[str, str] | None = None):
    return plan_columns(header.split(","), mapping)


def refusal(header: str, mapping: dict[str, str] | None = None) -> ColumnError:
    with pytest.raises(ColumnError) as info:
        plan(header, mapping)
    return info.value


@pytest.mark.parametrize(
    "header",
    [
        "name,email,title,completion_date",
        "Full Name,E-mail,Course,Date",
        "FULL_NAME,Email Address,Course Name,Completion Date",
        "Name,e-mail address,Certificate,Completed",
        "Recipient Name,EMAIL,Course Title,completed on",
        " full-name , E - Mail ,course,completion-date",
    ],
)
def test_core_columns_are_found_under_their_aliases(header: str) -> None:
    assert plan(header).targets == ("name", "email", "title", "completion_date")


def test_expiry_aliases_and_custom_columns() -> None:
    got = plan("Name,Email,Course,Date,Expires,Final Grade (%),Student-ID,Résumé")
    assert got.targets[4:] == ("expiry_date", "final_grade", "student_id", "resume")
    assert got.custom_keys == ("final_grade", "student_id", "resume")
    assert got.known == (
        (0, "name"),
        (1, "email"),
        (2, "title"),
        (3, "completion_date"),
        (4, "expiry_date"),
    )


def test_an_explicit_mapping_wins_over_aliases_renames_and_drops() -> None:
    got = plan(
        "Learner,Mail Address,Course,Certificate,Date,DOB",
        {
            "learner": "name",
            "Mail Address": "email",
            "Certificate": "certificate_number",
            "dob": "",
        },
    )
    # "Course" is still found by alias; "Certificate" became a custom field; DOB is dropped
    assert got.targets == ("name", "email", "title", "certificate_number", "completion_date", "")
    assert got.custom == ((3, "certificate_number"),)


def test_a_column_aliasing_a_mapped_field_stays_a_custom_field() -> None:
    got = plan("Full Name,Preferred Name,Email,Course,Date", {"Preferred Name": "name"})
    assert got.targets == ("full_name", "name", "email", "title", "completion_date")
    assert got.custom == ((0, "full_name"),)


def test_a_column_named_as_a_field_the_mapping_gave_away_must_be_mapped_too() -> None:
    error = refusal("Name,Preferred Name,Email,Course,Date", {"Preferred Name": "name"})
    assert "column 'Name' would be read as 'name'" in error.violations[0].description
    got = plan(
        "Name,Preferred Name,Email,Course,Date", {"Preferred Name": "name", "Name": "legal_name"}
    )
    assert got.targets[:2] == ("legal_name", "name")


def test_two_aliases_of_one_field_are_refused_naming_both() -> None:
    error = refusal("Name,Full Name,Email,Course,Date")
    assert error.reason == "INVALID_HEADER"
    (violation,) = error.violations
    assert violation.field == "file"
    assert "'Name', 'Full Name' could each be 'name'" in violation.description


@pytest.mark.parametrize(
    ("header", "said"),
    [
        ("name,Name,email,title,date", "'name' (column 1) and 'Name' (column 2) are the same"),
        ("name,NAME,email,title,date", "are the same column"),
        ("Name,email,title,date,Full-Name,full name", "'Full-Name' (column 5) and 'full name'"),
        ("name,,email,title,date", "column 2 has an empty name"),
        ("name,email,title,date,成绩", "column '成绩' cannot be a custom field name"),
        ("name,email,title,date,Grade,grade!", "both make the custom field 'grade'"),
        ("name,email,title,date,2nd grade", "column '2nd grade' cannot be a custom field"),
    ],
)
def test_header_problems_are_named(header: str, said: str) -> None:
    error = refusal(header)
    assert error.reason == "INVALID_HEADER"
    assert any(said in v.description for v in error.violations), error.violations


def test_trailing_empty_headers_are_ignored() -> None:
    assert plan("name,email,title,date,,").targets == ("name", "email", "title", "completion_date")


def test_missing_required_columns_name_the_accepted_headers() -> None:
    error = refusal("name,email")
    assert error.reason == "MISSING_COLUMNS"
    assert [v.description for v in error.violations] == [
        "no column for 'title'",
        "no column for 'completion_date'",
    ]
    assert "'course'" in error.message and "column_mapping" in error.message


@pytest.mark.parametrize(
    ("mapping", "field", "said"),
    [
        ({"Student": "name"}, "column_mapping['Student']", "the file has no column 'Student'"),
        ({"Name": "Bad Key"}, "column_mapping['Name']", "neither a certificate field"),
        ({"Name": "name", "Email": "name"}, "column_mapping['Email']", "are all mapped to 'name'"),
        ({"Email": "name", "Name": "name"}, "column_mapping['Email']", "'Email', 'Name' are all"),
        ({" ": "name"}, "column_mapping[' ']", "1 to 256 characters"),
    ],
)
def test_mapping_problems_are_violations_of_that_entry(
    mapping: dict[str, str], field: str, said: str
) -> None:
    error = refusal("Name,Email,Course,Date", mapping)
    assert error.reason in {"INVALID_HEADER", "INVALID_COLUMN_MAPPING"}
    assert any(v.field == field and said in v.description for v in error.violations), error


def test_a_mapping_naming_absent_columns_reports_each() -> None:
    error = refusal("Name,Email,Course,Date", {"Student": "name", "Mail": "email"})
    assert [v.field for v in error.violations] == [
        "column_mapping['Student']",
        "column_mapping['Mail']",
    ]


def test_custom_keys() -> None:
    assert custom_key("Final Grade (%)") == "final_grade"
    assert custom_key("  Matrikel-Nr. ") == "matrikel_nr"
    assert custom_key("Ölçü") == "olcu"
    assert custom_key("成绩") == ""


def test_a_huge_mapping_is_refused_once() -> None:
    error = refusal("Name,Email,Course,Date", {f"h{i}": "" for i in range(100_000)})
    assert error.reason == "INVALID_COLUMN_MAPPING"
    assert [v.field for v in error.violations] == ["column_mapping"]
    assert "100000 entries (at most 200)" in error.message
