"""notify: personalised certificate emails over SMTP, with rate limits and retries."""
