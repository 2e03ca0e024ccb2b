#!/usr/bin/env python3
"""Drives Debian's Chromium (headless, through chromedriver and Selenium) over usersync's web
console, as an administrator clicks through it: log in with the form, open each page, search a
user, open a run with changes, expand the group tree, test a connection, then the same pages at
a phone's width. Every page is checked for what it must show; a screenshot of each is written to
OUT. Exits 1 with the failed checks listed, 0 when all hold.

  console_browser.py BASE_URL USER PASSWORD SECRET OUT
    BASE_URL   http://127.0.0.1:PORT of `usersync serve`
    SECRET     a password the directory holds: no page may show it
"""
import os
import sys

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

base, user, password, secret, out = sys.argv[1:6]
os.makedirs(out, exist_ok=True)
failures = []


def check(condition, what):
    if not condition:
        failures.append(f"{driver.current_url}: {what}")


def shot(name):
    driver.save_screenshot(os.path.join(out, name + ".png"))
    # Every page: no secret, no script, no horizontal overflow of the page itself (tables
    # scroll inside their box).
    html = driver.page_source
    check(secret not in html, "the directory's password is on the page")
    check("<script" not in html, "a script on the page")
    width = driver.execute_script("return document.documentElement.scrollWidth")
    view = driver.execute_script("return window.innerWidth")
    check(width <= view + 1, f"{name}: the page is {width} px wide in a {view} px window")


def arrived(part):
    """Waits for the page a click or a submit asked for (the click returns before it loads)."""
    WebDriverWait(driver, 20).until(expected_conditions.url_contains(part))


def visible(element):
    # Selenium's is_displayed() takes an element inside a closed <details> for shown (the
    # closed part is skipped with content-visibility, not display: none); the browser's own
    # Element.checkVisibility() looks at that too.
    return driver.execute_script("return arguments[0].checkVisibility()", element)


def text():
    return driver.find_element(By.TAG_NAME, "main").text


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                 "--no-first-run", "--disable-extensions", "--password-store=basic"):
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_page_load_timeout(60)
try:
    # Not logged in: the login page (its status is 401; the browser shows the form).
    driver.get(base + "/console/users")
    check("Log in" in driver.title, f"not the login page: {driver.title}")
    shot("01-login")
    driver.find_element(By.NAME, "user").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys("wrong")
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    try:
        WebDriverWait(driver, 20).until(lambda d: "Wrong user name or password" in d.page_source)
    except WebDriverException:
        check(False, "a wrong password is not refused")
    driver.find_element(By.NAME, "user").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 20).until(lambda d: "Log in" not in d.title)
    check(driver.current_url.endswith("/console/users"), f"after login: {driver.current_url}, not the page asked for")
    check("Log out" in driver.page_source, "no log out button after login")

    # Sources.
    driver.find_element(By.LINK_TEXT, "Sources").click()
    WebDriverWait(driver, 20).until(lambda d: d.title.startswith("Sources"))
    check("people" in text() and "down" in text(), "the sources are not listed")
    shot("02-sources")

    # Users: search, then one user, then what was received for them.
    driver.find_element(By.LINK_TEXT, "Users").click()
    WebDriverWait(driver, 20).until(lambda d: d.title.startswith("Users"))
    box = driver.find_element(By.NAME, "q")
    box.send_keys("USER00008")
    box.submit()
    arrived("q=USER00008")
    rows = driver.find_elements(By.CSS_SELECTOR, "#users tbody tr")
    check(len(rows) == 1 and "user00008" in rows[0].text, f"the search found {len(rows)} rows")
    shot("03-users-search")
    driver.find_element(By.LINK_TEXT, "user00008").click()
    arrived("/console/users/")
    check("User user00008" in driver.title, "not the user's page")
    check("Through nested groups" in text() and "l1" in text(), "the nested groups are missing")
    check("added to group l5" in text(), "the history is missing")
    shot("04-user")
    driver.find_element(By.ID, "received").click()
    arrived("/received")
    check("uid=user00008" in text() and "mail" in text(), "the received record is missing")
    shot("05-received")
    driver.get(base + "/console/users?q=user00001")
    driver.find_element(By.LINK_TEXT, "user00001").click()
    arrived("/console/users/")
    driver.find_element(By.ID, "received").click()
    arrived("/received")
    check("(hidden)" in text(), "user00001's userPassword is not marked hidden")
    shot("06-received-password-hidden")

    # Runs: filter, then a run with changes; its user links lead to the user.
    driver.find_element(By.LINK_TEXT, "Runs").click()
    arrived("/console/runs")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 3, "not three runs")
    shot("07-runs")
    driver.find_element(By.CSS_SELECTOR, "select[name=status] option[value=failed]").click()
    driver.find_element(By.CSS_SELECTOR, "form.filters button").click()
    arrived("status=failed")
    rows = driver.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    check(len(rows) == 1 and "failed" in rows[0].text, "the status filter does not keep only the failed run")
    driver.get(base + "/console/runs/2")
    changes = driver.find_elements(By.CSS_SELECTOR, "#changes tbody tr")
    check(len(changes) >= 4, f"run 2 shows {len(changes)} changes")
    check("second@example.org" in text(), "the email change is missing")
    shot("08-run-changes")
    driver.find_element(By.LINK_TEXT, "user00007").click()
    arrived("/console/users/")
    check("deactivated" in text(), "the deactivated user's page")

    # The group tree: collapsed below the first level; opening a branch shows what is below.
    driver.find_element(By.LINK_TEXT, "Groups").click()
    arrived("/console/groups")
    shot("09-groups-collapsed")
    l5 = [e for e in driver.find_elements(By.CSS_SELECTOR, "#tree .group") if e.get_attribute("textContent") == "l5"]
    check(l5 and not visible(l5[0]), "l5 is shown before its branch is opened")
    for _ in range(6):
        closed = [d for d in driver.find_elements(By.CSS_SELECTOR, "#tree details:not([open])") if visible(d)]
        if not closed:
            break
        for details in closed:
            details.find_element(By.TAG_NAME, "summary").click()
    l5 = [e for e in driver.find_elements(By.CSS_SELECTOR, "#tree .group") if e.get_attribute("textContent") == "l5"]
    check(l5 and visible(l5[0]), "l5 is not shown after opening its branches")
    check("2 parents" in text() and "(cycle)" in text(), "the shared group or the cycle is not marked")
    shot("10-groups-expanded")

    # A source: the mapping, a live preview, and test connection.
    driver.get(base + "/console/sources/people")
    check("uid" in driver.find_element(By.ID, "mapping").text, "the mapping is missing")
    driver.find_element(By.ID, "preview").click()
    arrived("preview=5")
    check(len(driver.find_elements(By.CSS_SELECTOR, "table.preview")) == 5, "the preview does not show 5 entries")
    shot("11-source-preview")
    driver.find_element(By.ID, "test-connection").click()
    WebDriverWait(driver, 60).until(expected_conditions.presence_of_element_located((By.ID, "test-result")))
    check(driver.find_element(By.ID, "test-result").text == "OK", "test connection did not pass")
    check("Bound as" in driver.find_element(By.ID, "test-report").text, "the test report is missing")
    shot("12-test-connection")
    driver.get(base + "/console/sources/down")
    driver.find_element(By.ID, "test-connection").click()
    WebDriverWait(driver, 60).until(expected_conditions.presence_of_element_located((By.ID, "test-result")))
    check(driver.find_element(By.ID, "test-result").text == "failed", "test connection to a server that is down passed")
    shot("13-test-connection-failed")

    # A phone: 390 px wide. Every page still fits its width.
    driver.set_window_size(390, 844)
    for name, path in (("sources", "/console/"), ("runs", "/console/runs"), ("run", "/console/runs/2"),
                       ("users", "/console/users"), ("groups", "/console/groups"), ("source", "/console/sources/people")):
        driver.get(base + path)
        shot("phone-" + name)

    # Logged out: the pages are closed again.
    driver.find_element(By.CSS_SELECTOR, "header form button").click()
    WebDriverWait(driver, 20).until(lambda d: "Log in" in d.title)
    driver.get(base + "/console/runs")
    check("Log in" in driver.title, "a page opens after logging out")
except WebDriverException as error:
    failures.append(f"{driver.current_url}: {error.msg}")
    shot("failed")
finally:
    driver.quit()

for failure in failures:
    print("FAIL", failure)
print(f"{len(failures)} failed checks; screenshots in {out}")
sys.exit(1 if failures else 0)
