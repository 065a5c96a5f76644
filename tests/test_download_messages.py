"""What a failed download says about the network: a few words, not the library's raw text."""

from __future__ import annotations

import pytest

from i2i_cli.checkpoints.downloads import network_reason

RAW_RESOLVE = (
    "HTTPSConnectionPool(host='drive.google.com', port=443): Max retries exceeded with url: "
    "/uc?id=x (Caused by NameResolutionError(\"HTTPSConnection(host='drive.google.com', "
    "port=443): Failed to resolve 'drive.google.com' ([Errno -2] Name or service not known)\"))"
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (RAW_RESOLVE, "cannot resolve drive.google.com (no network, or no DNS)"),
        ("[Errno 111] Connection refused", "connection refused"),
        ("The read operation timed out", "timed out"),
        ("HTTP Error 500: oops", "HTTP Error 500: oops"),
    ],
)
def test_known_network_faults_are_said_in_a_few_words(text: str, reason: str) -> None:
    assert network_reason(OSError(text)) == reason


def test_an_unknown_long_message_is_cut() -> None:
    assert len(network_reason(RuntimeError("x" * 1000))) == 300
