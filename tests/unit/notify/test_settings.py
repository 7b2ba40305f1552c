"""notify refuses, at start and naming the variable, a branding value that could leave its
place in a message, and a DKIM key file that cannot sign; nothing is connected first."""

import pytest

from certflow.platform.entrypoint import load_settings
from services.notify.settings import NotifySettings
from tests.unit.notify.dkim_keys import new_keys


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("CERTFLOW_BRAND_PRIMARY_COLOUR", "red; background:url(x)", "#rrggbb"),
        ("CERTFLOW_MAIL_FROM_NAME", "Uni =?utf-8?q?x?=", "encoded-word"),
        ("CERTFLOW_REPLY_TO", "Registrar <r@uni.example>", "plain ASCII email address"),
        ("CERTFLOW_LIST_UNSUBSCRIBE_URL", "http://uni.example/u", "https URL"),
        ("CERTFLOW_BRAND_LOGO_URL", "javascript:alert(1)", "http URL"),
    ],
)
def test_a_branding_setting_that_could_leave_its_place_stops_notify_naming_it(
    monkeypatch, capsys, variable, value, problem
):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exited:
        load_settings("certflow-notify", NotifySettings)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"certflow-notify: {variable}:" in err and problem in err


def test_a_dkim_key_file_is_checked_at_start_without_its_content_in_the_error(
    monkeypatch, capsys, tmp_path
):
    bad = tmp_path / "bad.private"
    bad.write_bytes(
        b"-----BEGIN RSA PRIVATE KEY-----\nbm90LWEta2V5\n-----END RSA PRIVATE KEY-----\n"
    )
    monkeypatch.setenv("CERTFLOW_DKIM_PRIVATE_KEY_PATH", str(bad))
    monkeypatch.setenv("CERTFLOW_DKIM_SELECTOR", "s1")
    with pytest.raises(SystemExit):
        load_settings("certflow-notify", NotifySettings)
    err = capsys.readouterr().err
    assert "CERTFLOW_DKIM_PRIVATE_KEY_PATH" in err and "cannot sign" in err
    assert "bm90LWEta2V5" not in err

    monkeypatch.delenv("CERTFLOW_DKIM_SELECTOR")
    with pytest.raises(SystemExit):
        load_settings("certflow-notify", NotifySettings)
    assert "needs CERTFLOW_DKIM_SELECTOR" in capsys.readouterr().err


def test_a_usable_dkim_key_file_and_a_safe_branding_load(monkeypatch, tmp_path):
    keys = new_keys()
    monkeypatch.setenv("CERTFLOW_DKIM_PRIVATE_KEY_PATH", str(keys.write_private(tmp_path)))
    monkeypatch.setenv("CERTFLOW_DKIM_SELECTOR", keys.selector)
    monkeypatch.setenv("CERTFLOW_BRAND_PRIMARY_COLOUR", "#123abc")
    monkeypatch.setenv("CERTFLOW_REPLY_TO", "registrar@uni.example")
    settings = load_settings("certflow-notify", NotifySettings)
    assert settings.dkim_selector == keys.selector
    assert settings.brand_primary_colour == "#123abc"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("CERTFLOW_DEFAULT_TIME_ZONE", "Mars/Olympus_Mons", "not an IANA time zone name"),
        ("CERTFLOW_BUSINESS_HOURS_DAYS", "Mon,Funday", "not a weekday"),
        ("CERTFLOW_BUSINESS_HOURS_CLOSES", "08:00", "open before they close"),
        ("CERTFLOW_DOMAIN_RATE_OVERRIDES", '{"gmail.com": -1}', "0 or more"),
    ],
)
def test_a_delivery_timing_setting_that_cannot_work_stops_notify_naming_it(
    monkeypatch, capsys, variable, value, problem
):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exited:
        load_settings("certflow-notify", NotifySettings)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"certflow-notify: {variable}:" in err and problem in err


def test_delivery_timing_settings_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("CERTFLOW_BUSINESS_HOURS_DAYS", "Saturday, sun")
    monkeypatch.setenv("CERTFLOW_BUSINESS_HOURS_OPENS", "10:30")
    monkeypatch.setenv("CERTFLOW_DOMAIN_RATE_OVERRIDES", '{"Gmail.COM": 600}')
    settings = NotifySettings()
    assert settings.business_hours.weekdays == {5, 6}
    assert settings.business_hours.opens.isoformat() == "10:30:00"
    assert settings.domain_rate_overrides == {"gmail.com": 600}


def test_bounce_processing_without_a_secret_stops_notify(monkeypatch, capsys):
    monkeypatch.setenv("CERTFLOW_BOUNCE_ADDRESS", "bounces@uni.example")
    monkeypatch.delenv("CERTFLOW_INTERNAL_TOKEN", raising=False)
    monkeypatch.delenv("CERTFLOW_NOTIFY_SECRET", raising=False)
    with pytest.raises(SystemExit):
        load_settings("certflow-notify", NotifySettings)
    assert "CERTFLOW_NOTIFY_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("CERTFLOW_NOTIFY_SECRET", "s3cret-value")
    settings = load_settings("certflow-notify", NotifySettings)
    assert settings.secret == b"s3cret-value"
    assert "s3cret-value" not in repr(settings)
    monkeypatch.setenv("CERTFLOW_BOUNCE_ADDRESS", "bounces+x@uni.example")
    with pytest.raises(SystemExit):
        load_settings("certflow-notify", NotifySettings)
