"""The pure rules behind the endpoint's security: listen parsing, bind rule, Host check, token."""

from __future__ import annotations

import socket

import pytest

from zeta_console.errors import UserError
from zeta_console.serve.security import ListenAddress, bearer_token_matches, host_header_allowed, parse_listen, require_safe_bind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:11435", ListenAddress("127.0.0.1", 11435)),
        (":8080", ListenAddress("127.0.0.1", 8080)),
        ("[::1]:11435", ListenAddress("::1", 11435)),
        ("localhost:0", ListenAddress("localhost", 0)),
        ("0.0.0.0:11435", ListenAddress("0.0.0.0", 11435)),
    ],
)
def test_listen_addresses_parse(text: str, expected: ListenAddress) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["", "11435", "127.0.0.1", "127.0.0.1:port", "127.0.0.1:70000", "::1:11435", "[::1]"])
def test_bad_listen_addresses_are_one_line_user_errors_with_status_2(text: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_listen(text)
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)


def test_a_non_loopback_bind_needs_a_token() -> None:
    require_safe_bind(parse_listen("127.0.0.1:1"), None)
    require_safe_bind(parse_listen("[::1]:1"), None)
    require_safe_bind(parse_listen("0.0.0.0:1"), "secret")
    with pytest.raises(UserError) as caught:
        require_safe_bind(parse_listen("0.0.0.0:1"), None)
    assert caught.value.exit_code == 2
    assert "--token" in str(caught.value)
    with pytest.raises(UserError):
        require_safe_bind(parse_listen("192.168.1.10:1"), "")


@pytest.mark.parametrize(
    "host",
    [
        "",
        "localhost",
        "localhost:11435",
        "127.0.0.1:11435",
        "[::1]:11435",
        "box.local",
        "api.internal:80",
        "x.localhost",
        "10.1.2.3",
        "192.168.0.5:1",
        "0.0.0.0",
    ],
)
def test_local_host_headers_are_allowed(host: str) -> None:
    assert host_header_allowed(host)


def test_the_machines_own_name_is_allowed() -> None:
    assert host_header_allowed(socket.gethostname().upper() + ":11435")


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:11435", "8.8.8.8", "localhost.evil.com", "[2001:db8::1]:80"])
def test_foreign_host_headers_are_refused(host: str) -> None:
    assert not host_header_allowed(host)


def test_bearer_token_must_match_exactly() -> None:
    assert bearer_token_matches("Bearer s3cret", "s3cret")
    assert bearer_token_matches("bearer s3cret", "s3cret")
    assert not bearer_token_matches("Bearer s3cre", "s3cret")
    assert not bearer_token_matches("Basic s3cret", "s3cret")
    assert not bearer_token_matches("", "s3cret")
    assert not bearer_token_matches("Bearer ünïcode", "s3cret")
