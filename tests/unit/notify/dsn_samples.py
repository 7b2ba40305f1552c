"""RFC 3464 delivery status notifications as real MTAs write them (Postfix, Exchange-like),
for the bounce tests."""


def postfix_dsn(
    *,
    recipient: str,
    message_id: str,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown",
    returned: str = "text/rfc822-headers",
) -> bytes:
    diagnostic = diagnostic.format(recipient=recipient)
    headers = (
        "From: certificates@certflow.localhost\r\n"
        f"To: {recipient}\r\n"
        "Subject: Your certificate: Resilience 101\r\n"
        f"Message-ID: {message_id}\r\n"
    )
    returned_part = (
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n" + headers
        if returned == "text/rfc822-headers"
        else "Content-Description: Undelivered Message\r\n"
        "Content-Type: message/rfc822\r\n\r\n" + headers + "\r\nHello\r\n"
    )
    return (
        "Return-Path: <>\r\n"
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        '\tboundary="B1A2C3.1700000000/mx.example.org"\r\n'
        "\r\n"
        "This is a MIME-encapsulated message.\r\n"
        "\r\n"
        "--B1A2C3.1700000000/mx.example.org\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n"
        "\r\n"
        "--B1A2C3.1700000000/mx.example.org\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n"
        "X-Postfix-Queue-ID: B1A2C3\r\n"
        "Arrival-Date: Sun, 29 Nov 2026 22:00:00 +0000 (UTC)\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; inbox.example.org\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n"
        "\r\n"
        "--B1A2C3.1700000000/mx.example.org\r\n" + returned_part + "\r\n"
        "--B1A2C3.1700000000/mx.example.org--\r\n"
    ).encode()


OUT_OF_OFFICE = (
    b"From: someone@example.org\r\nSubject: Out of office\r\nContent-Type: text/plain\r\n\r\n"
    b"I am away until Monday.\r\n"
)


def arf_report(*, return_path: str, message_id: str, feedback_type: str = "abuse") -> bytes:
    """An RFC 5965 feedback report as a mailbox provider's feedback loop sends it."""
    return (
        "From: fbl@isp.example\r\n"
        "Subject: FW: Your certificate\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="arf"\r\n'
        "\r\n"
        "--arf\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "This is an email abuse report.\r\n"
        "--arf\r\n"
        "Content-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: {feedback_type}\r\n"
        "User-Agent: SomeFBL/1.0\r\n"
        "Version: 1\r\n"
        "--arf\r\n"
        "Content-Type: message/rfc822\r\n\r\n"
        f"Return-Path: <{return_path}>\r\n"
        "From: certificates@certflow.localhost\r\n"
        f"Message-ID: {message_id}\r\n"
        "Subject: Your certificate\r\n\r\n"
        "Hello\r\n"
        "--arf--\r\n"
    ).encode()
