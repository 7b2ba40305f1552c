"""A local SMTP server that saves every accepted message as a .eml file in a folder.

`python -m certflow.devstack.smtp_sink --port 1025 --dir .state/mail`
"""

import argparse
import asyncio
import itertools
import logging
import os
import signal
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session


class SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(1)
        self._prefix = f"{os.getpid()}"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        name = f"{self._prefix}-{next(self._counter):08d}.eml"
        temporary = self.folder / f".{name}.tmp"
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        header = "".join(f"X-Envelope-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos).encode()
        temporary.write_bytes(header + content)
        temporary.rename(self.folder / name)  # readers never see a half-written message
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, folder: Path) -> None:
    handler = SaveToFolder(folder)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="certflow-smtp-sink", decode_data=False),
        host=host,
        port=port,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logging.info("SMTP sink on %s:%d saving to %s", host, port, folder)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # one line per message costs ~9%
    asyncio.run(serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
