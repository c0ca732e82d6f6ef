import asyncio


def test_asyncio_runs_after_browser_tests() -> None:
    assert asyncio.run(asyncio.sleep(0, result=1)) == 1
