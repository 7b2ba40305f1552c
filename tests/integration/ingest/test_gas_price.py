"""A dry run's base fee from anchor: unknown, with the reason, whenever anchor cannot say."""

import asyncio

from devstack.processes import free_port
from services.ingest.gas_price import AnchorBaseFee, BaseFee


def ask(address: str) -> BaseFee:
    async def run() -> BaseFee:
        source = AnchorBaseFee(address, "token", timeout=0.5)
        try:
            return await source()
        finally:
            await source.close()

    return asyncio.run(run())


def test_no_address_is_an_unknown_fee_that_says_what_to_set() -> None:
    fee = ask("")
    assert fee.wei is None and "CERTFLOW_ANCHOR_ADDRESS" in fee.note


def test_an_anchor_nobody_runs_is_an_unknown_fee_not_a_failure() -> None:
    fee = ask(f"127.0.0.1:{free_port()}")
    assert fee.wei is None and fee.note.startswith("anchor did not answer (")
