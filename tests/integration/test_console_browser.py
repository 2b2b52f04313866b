"""The operator console in a real headless browser: Debian's chromium driven by selenium
through Debian's chromedriver (`make chromium`; nothing is downloaded). The page is loaded
before the orders exist and must show them by refreshing itself, and how fulfilment settled
an order's cancellation.

CONSOLE_SCREENSHOT=docs/console.png also writes the screenshot there (the README's)."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from support import auth, order_body

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SERVICES = ("order-intake", "fulfilment", "invoicing", "monitoring")
FAST_AUTOPILOT = {
    "FULFILMENT_AUTOPILOT": "true",
    "FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S": "0.3",
    "FULFILMENT_AUTOPILOT_START_DELAY_S": "0.3",
    "FULFILMENT_AUTOPILOT_SHIP_DELAY_S": "0.6",
    "FULFILMENT_AUTOPILOT_RECEIPT_DELAY_S": "0.3",
    "FULFILMENT_AUTOPILOT_REJECT_PROBABILITY": "0",
    "KAFKA_LAG_INTERVAL_S": "1",
}


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (make chromium)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # The driver's path is given: Selenium Manager is not needed and must not download.
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1440,1500",
        f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(
        service=Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "driver.log")),
        options=options,
    )
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(
    driver: Any, condition: Callable[[Any], Any], *, what: str, timeout: float = 45
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition(driver)
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"the console never showed {what}; page:\n{driver.page_source[:3000]}")


def order_ids(driver: Any, selector: str) -> list[str]:
    """The data-order-id of the rows matched, read in one go (the page swaps its sections
    every 2 s: an element found earlier may be gone by the next call)."""
    ids: list[str] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.dataset.orderId)",
        selector,
    )
    return ids


def text_of(driver: Any, selector: str) -> str:
    text: str | None = driver.execute_script(
        "return document.querySelector(arguments[0])?.innerText", selector
    )
    return text or ""


def count(driver: Any, selector: str) -> int:
    found: int = driver.execute_script(
        "return document.querySelectorAll(arguments[0]).length", selector
    )
    return found


def click(driver: Any, selector: str) -> None:
    """A real click on the element, found again if a refresh replaced it meanwhile."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(10):
        try:
            driver.find_element("css selector", selector).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError(f"could not click {selector}")


def test_the_console_shows_an_order_placed_a_moment_ago(
    start_service: Any, browser: Any, tmp_path: Path
) -> None:
    services = {name: start_service(name, env=FAST_AUTOPILOT, wait=False) for name in SERVICES}
    for service in services.values():
        service.wait_ready()
    console = f"{services['monitoring'].url}/console"

    # opened before any order exists: an empty console, without a key (test environment)
    browser.get(console)
    assert "operator console" in browser.title
    assert not order_ids(browser, "#chains tr[data-order-id]")

    placed: list[str] = []
    with httpx.Client(base_url=services["order-intake"].url, timeout=30) as intake:
        # cancelled as soon as placed: fulfilment settles it (work cancelled, or refused if
        # the order shipped first); the console shows the settlement on the chain
        response = intake.post(
            "/v1/orders",
            json=order_body(supplier="WHEELS", sku="WHEEL-28", quantity=1),
            headers={**auth("ASSEMBLY"), "Idempotency-Key": f"console-{uuid.uuid4()}"},
        )
        assert response.status_code == 201, response.text
        withdrawn = response.json()["order_id"]
        cancel = intake.post(
            f"/v1/orders/{withdrawn}/cancel",
            json={"reason": "console test"},
            headers=auth("ASSEMBLY"),
        )
        assert cancel.status_code in (200, 202), cancel.text
        for requester, body in (
            ("ASSEMBLY", order_body(supplier="WHEELS", sku="WHEEL-28", quantity=2)),
            ("RETAIL_OPS", order_body("RETAIL_OPS", "ASSEMBLY", "EBIKE-CITY", 1)),
        ):
            response = intake.post(
                "/v1/orders",
                json=body,
                headers={**auth(requester), "Idempotency-Key": f"console-{uuid.uuid4()}"},
            )
            assert response.status_code == 201, response.text
            placed.append(response.json()["order_id"])
    ebike = placed[-1]

    # the page refreshes itself: the orders appear with their ids, newest first
    wait_for(
        browser,
        lambda d: order_ids(d, "#chains tr[data-order-id]")[:2] == [ebike, placed[0]],
        what="both orders",
    )
    assert ebike in text_of(browser, "#chains")

    # a click shows the e-bike chain's waterfall: its sub-orders' handoffs with their targets
    click(browser, f'#chains tr[data-order-id="{ebike}"]')
    wait_for(
        browser,
        lambda d: (
            count(d, f'#chain [data-root-order-id="{ebike}"]')
            and count(d, "#chain table.waterfall tbody tr") >= 8
            and text_of(d, "#chain h2 .state") in ("delivered", "invoiced")
        ),
        what="the e-bike chain's waterfall with its sub-orders, delivered or invoiced",
        timeout=60,
    )
    assert count(browser, "#chain svg.bar rect") >= 8
    assert f"#order={ebike}" in browser.current_url
    # the open disputes have their panel (none here)
    assert "Open disputes" in text_of(browser, "#disputes")

    # the cancelled order's chain notes how fulfilment settled the request
    click(browser, f'#chains tr[data-order-id="{withdrawn}"]')
    notes = wait_for(
        browser,
        lambda d: (
            count(d, f'#chain [data-root-order-id="{withdrawn}"]')
            and ("work cancelled" in (text := text_of(d, "#chain ul.notes")) or "refused" in text)
            and text
        ),
        what="the cancellation settled on the chain",
    )
    assert "cancellation requested: console test" in notes
    # lag is measured from the broker for every group; dead-letter topics are counted
    health = wait_for(
        browser,
        lambda d: "caught up" in (text := text_of(d, "#health")) and text,
        what="consumer lag",
    )
    assert "supplychain.orders.v1.dlq" in health
    assert "invoicing" in health

    png = browser.get_screenshot_as_png()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    width, height = image.size
    assert width > 0 and height > 0
    colours = image.getcolors(maxcolors=width * height)
    assert colours is not None and len(colours) > 50, "the screenshot is (nearly) one colour"
    (tmp_path / "console.png").write_bytes(png)
    if target := os.environ.get("CONSOLE_SCREENSHOT"):
        shutil.copyfile(tmp_path / "console.png", target)
