"""The sign-in limit's promises, as properties over any history of tries (pure: an injected
clock, no server): a client that has never failed is always checked, whatever an attacker did;
waits only grow with failures and never pass the longest; a right password leaves no trace."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from callback_desk.web.auth import SignInLimit, Wait, client_key

CLIENTS = st.sampled_from(["10.0.0.1", "10.0.0.2", "2001:db8::1", "2001:db8::2"])
ACCOUNTS = st.sampled_from(["admin", "jane"])
# Mostly wrong passwords, mostly in quick succession: the histories where waits build up.
RIGHT = st.sampled_from([False, False, False, True])
LATER = st.sampled_from([0.0, 0.0, 0.5, 1.0, 3.0, 60.0, 1000.0, 3000.0])
# (client, account, right password?, seconds that pass before the try)
TRIES = st.lists(st.tuples(CLIENTS, ACCOUNTS, RIGHT, LATER), max_size=80)


def play(limit: SignInLimit, now: list[float], tries: list[tuple[str, str, bool, float]]) -> None:
    """What the sign-in view does with each try: refused unchecked during a wait, otherwise
    counted while checked, then succeeded or failed."""
    for client, account, right, later in tries:
        now[0] += later
        key = client_key(client)
        if limit.wait(account, key) is not None:
            continue
        limit.begin(account, key)
        if right:
            limit.succeeded(account, key)
        else:
            limit.failed(account, key)


@settings(max_examples=300, deadline=None)
@given(TRIES, ACCOUNTS)
def test_a_client_that_never_failed_is_always_checked(tries, account) -> None:
    now = [1000.0]
    limit = SignInLimit(free=5, longest=900, clock=lambda: now[0])
    play(limit, now, tries)
    # Whatever happened to the account, the owner at a fresh computer is checked at once.
    assert limit.wait(account, client_key("192.0.2.200")) is None


@settings(max_examples=300, deadline=None)
@given(TRIES)
def test_every_wait_is_at_most_the_longest(tries) -> None:
    now = [1000.0]
    limit = SignInLimit(free=5, longest=900, clock=lambda: now[0])
    play(limit, now, tries)
    for client in ("10.0.0.1", "10.0.0.2", "2001:db8::1"):
        for account in ("admin", "jane"):
            wait = limit.wait(account, client_key(client))
            assert wait is None or 0 < wait.seconds <= 900


def test_the_delay_curve_doubles_from_one_second_after_the_free_failures() -> None:
    limit = SignInLimit(free=5, longest=900, clock=lambda: 0.0)
    assert [limit.delay(n) for n in range(1, 16)] == [
        0,
        0,
        0,
        0,
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        512,
        900,
    ]
    assert limit.delay(10**6) == 900  # no overflow however many


def test_right_passwords_leave_no_trace_but_do_not_wipe_failures() -> None:
    now = [1000.0]
    limit = SignInLimit(free=2, longest=60, clock=lambda: now[0])
    for _ in range(2):
        limit.begin("jane", "10.0.0.1")
        limit.failed("jane", "10.0.0.1")
    assert limit.wait("jane", "10.0.0.1") == Wait(1.0, "client")
    now[0] += 1
    # Signing in to one's own account does not reset the client's record (an attacker with an
    # account of their own could otherwise guess another's between sign-ins).
    limit.begin("mallory", "10.0.0.1")
    limit.succeeded("mallory", "10.0.0.1")
    limit.begin("jane", "10.0.0.1")
    limit.failed("jane", "10.0.0.1")
    assert limit.wait("jane", "10.0.0.1") == Wait(2.0, "client")
    # A tally is forgotten once its wait is long over.
    now[0] += 2 + 60 + 1
    limit._prune()
    assert not limit._tallies


def test_an_ipv6_client_is_its_64() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7" == client_key("192.0.2.7")
