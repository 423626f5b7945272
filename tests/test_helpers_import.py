from tests.helpers import wait_until


async def test_wait_until_returns_once_true_and_fails_when_never() -> None:
    flips = iter([False, False, True])
    await wait_until(lambda: next(flips), timeout=1)
    try:
        await wait_until(lambda: False, timeout=0.05)
    except AssertionError as error:
        assert "timed out" in str(error)
    else:
        raise AssertionError("wait_until should have failed")
