"""Accounts, sessions, CSRF, throttling, API tokens, and the authorisation matrix: every API route and
every page against every role, including the refusals, and records outside a scope."""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from server.access import RULES
from server.auth import SESSION_COOKIE, set_session_cookie
from server.services.accounts import AccountError, Role, UserAccount, create_user, verify_password
from tests.web_seed import ANI, BUDI, CITRA, PASSWORD, World, session_cookie, web_world

PUBLIC = {("GET", "/api/v1/health"), ("GET", "/api/v1/openapi.json")}

# Path parameters each role may legitimately use (inside its own scope).
OWN = {
    Role.BUREAU_ADMIN: {
        "nip": ANI,
        "code": "dir-1",
        "gateway_id": "gw-dir1",
        "unit": "dir-1",
        "username": "nobody",
        "claim_id": "none",
        "request_id": "999999",
        "objection_id": "999999",
        "serial": "NO-SUCH-DEVICE",
        "area": "no-such-area",
    },
    Role.UNIT_ADMIN: {
        "nip": CITRA,
        "code": "dir-2",
        "gateway_id": "gw-dir2",
        "unit": "dir-2",
        "username": "nobody",
        "claim_id": "none",
        "request_id": "999999",
        "objection_id": "999999",
        "serial": "NO-SUCH-DEVICE",
        "area": "no-such-area",
    },
    Role.SUPERVISOR: {
        "nip": BUDI,
        "code": "dir-1",
        "gateway_id": "gw-dir1",
        "unit": "dir-1",
        "username": "nobody",
        "claim_id": "none",
        "request_id": "999999",
        "objection_id": "999999",
        "serial": "NO-SUCH-DEVICE",
        "area": "no-such-area",
    },
    Role.EMPLOYEE: {
        "nip": BUDI,
        "code": "dir-1",
        "gateway_id": "gw-dir1",
        "unit": "dir-1",
        "username": "nobody",
        "claim_id": "none",
        "request_id": "999999",
        "objection_id": "999999",
        "serial": "NO-SUCH-DEVICE",
        "area": "no-such-area",
    },
    Role.OPERATIONS: {
        "nip": ANI,
        "code": "dir-1",
        "gateway_id": "gw-dir1",
        "unit": "dir-1",
        "username": "nobody",
        "claim_id": "none",
        "request_id": "999999",
        "objection_id": "999999",
        "serial": "NO-SUCH-DEVICE",
        "area": "no-such-area",
    },
}


@pytest.fixture
async def world(db_url):
    async with web_world(db_url) as w:
        yield w


def api_routes(app: web.Application) -> list[tuple[str, str]]:
    found = set()
    for route in app.router.routes():
        canonical = route.resource.canonical if route.resource else ""
        if canonical.startswith("/api/v1/") and route.method not in ("HEAD", "OPTIONS"):
            found.add((route.method, canonical))
    return sorted(found)


def test_every_api_route_has_an_access_rule(world: World):
    missing = [r for r in api_routes(world.client.app) if r not in RULES and r not in PUBLIC]
    # A new route is served to the bureau administrator only until it has a rule: add one to
    # RULES in server/access.py saying which roles may call it and which checks apply.
    assert missing == [], f"routes without an access rule in server/access.py: {missing}"


async def test_authorisation_matrix_every_api_route_against_every_role(world: World):
    routes = [r for r in api_routes(world.client.app) if r not in PUBLIC]
    assert len(routes) >= 25
    outcomes = []
    for method, template in routes:
        rule = RULES[(method, template)]
        for role in Role:
            values = OWN[role]
            path = re.sub(r"\{(\w+)\}", lambda m, v=values: v[m.group(1)], template)
            params = {name: values["unit"] for name in rule.unit_params}
            if template == "/api/v1/employees" and role is Role.SUPERVISOR:
                params = {"supervisor": ANI}
            kwargs = {"json": {}} if method == "POST" else {}
            response = await world.client.request(method, path, params=params, headers=world.auth(role), **kwargs)
            if response.status >= 400:
                body = await response.json()
                assert "reason" in body, (method, path, role, body)
            outcomes.append((method, template, role.value, response.status, role in rule.roles))
    for method, template, role, status, allowed in outcomes:
        assert status < 500, (method, template, role, status)
        if allowed:
            assert status not in (401, 403), (method, template, role, status)
        else:
            assert status == 403, (method, template, role, status)
    # Each role is refused somewhere and allowed somewhere: the matrix is not trivially one-sided.
    for role in Role:
        statuses = {allowed for _, _, r, _, allowed in outcomes if r == role.value}
        assert statuses == {True, False} or role is Role.BUREAU_ADMIN


@pytest.mark.parametrize(
    ("role", "path", "params"),
    [
        (Role.UNIT_ADMIN, f"/api/v1/employees/{ANI}", {}),
        (Role.UNIT_ADMIN, f"/api/v1/employees/{ANI}/month", {}),
        (Role.UNIT_ADMIN, "/api/v1/units/dir-1", {}),
        (Role.UNIT_ADMIN, "/api/v1/gateways/gw-dir1", {}),
        (Role.UNIT_ADMIN, "/api/v1/punches", {"unit": "dir-1"}),
        (Role.UNIT_ADMIN, "/api/v1/employees", {"unit": "dir-1"}),
        (Role.SUPERVISOR, f"/api/v1/employees/{CITRA}/month", {}),
        (Role.EMPLOYEE, f"/api/v1/employees/{ANI}/month", {}),
        (Role.EMPLOYEE, f"/api/v1/employees/{CITRA}", {}),
        (Role.UNIT_ADMIN, "/api/v1/payroll", {"unit": "dir-1", "month": "2025-05"}),
        (Role.UNIT_ADMIN, "/api/v1/exports/payroll.pdf", {"unit": "dir-1", "month": "2025-05"}),
        (Role.UNIT_ADMIN, "/api/v1/units/dir-1/signatories", {}),
        (Role.EMPLOYEE, f"/api/v1/employees/{CITRA}/grades", {}),
    ],
)
async def test_records_outside_the_scope_are_not_found(world: World, role, path, params):
    response = await world.client.get(path, params=params, headers=world.auth(role))
    assert response.status == 404
    assert "scope" in (await response.json())["reason"]


async def test_lists_hold_only_what_the_role_may_see(world: World):
    async def nips(role: Role, path: str, **params: str) -> set[str]:
        response = await world.client.get(path, params=params, headers=world.auth(role))
        assert response.status == 200, await response.text()
        body = await response.json()
        return {row["nip"] for row in body.get("items", body.get("employees", []))}

    everyone = {ANI, BUDI, CITRA}
    assert await nips(Role.BUREAU_ADMIN, "/api/v1/results") == everyone
    assert await nips(Role.UNIT_ADMIN, "/api/v1/results") == {CITRA}
    assert await nips(Role.SUPERVISOR, "/api/v1/results") == {ANI, BUDI}
    assert await nips(Role.SUPERVISOR, "/api/v1/today") == {ANI, BUDI}
    assert await nips(Role.SUPERVISOR, "/api/v1/employees", supervisor=ANI) == {BUDI}
    assert await nips(Role.UNIT_ADMIN, "/api/v1/employees", unit="dir-2") == {CITRA}
    assert await nips(Role.BUREAU_ADMIN, "/api/v1/results", unit="dj-a") == everyone
    csv = await (await world.client.get("/api/v1/exports/recap.csv", headers=world.auth(Role.UNIT_ADMIN))).text()
    assert CITRA in csv and ANI not in csv and BUDI not in csv
    refused = await world.client.get("/api/v1/punches", headers=world.auth(Role.UNIT_ADMIN))
    assert refused.status == 403  # a unit-bound account must name a unit of its own


PAGES = {
    "/dashboard": {Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR},
    "/recap": {Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR},
    "/charts": {Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR},
    "/devices": {Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.OPERATIONS},
    f"/employees/{BUDI}/month": {Role.BUREAU_ADMIN, Role.SUPERVISOR, Role.EMPLOYEE},
    "/activities": {Role.SUPERVISOR, Role.EMPLOYEE},  # accounts with an employee record
    "/approvals": {Role.SUPERVISOR, Role.BUREAU_ADMIN},  # the supervisor decides; the bureau reads every unit's
    "/requests": {Role.SUPERVISOR, Role.EMPLOYEE},  # accounts with an employee record file requests
    "/requests/queue": {Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR},  # those the policy names as approvers
    "/objections": {Role.SUPERVISOR, Role.EMPLOYEE},  # accounts with an employee record object
    "/objections/queue": {Role.BUREAU_ADMIN, Role.SUPERVISOR},  # the superior's superior or the bureau decides
    "/accounts": {Role.BUREAU_ADMIN, Role.UNIT_ADMIN},
    # the appraisal (issue 17): every personnel role; an employee's period for those who read them (the unit
    # admin of DIR-2 does not: 404); a unit's distribution for the bureau and the unit's superiors
    "/kinerja/penilaian": {Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR, Role.EMPLOYEE},
    f"/kinerja/penilaian/pegawai/{BUDI}": {Role.BUREAU_ADMIN, Role.SUPERVISOR, Role.EMPLOYEE},
    "/kinerja/penilaian/rekan": {Role.SUPERVISOR, Role.EMPLOYEE},  # whom one rates beside the superior
    "/kinerja/penilaian/unit/dir-1": {Role.BUREAU_ADMIN, Role.SUPERVISOR},
    "/kinerja/penilaian/unit/dir-2": {Role.BUREAU_ADMIN, Role.UNIT_ADMIN},
    # work plans (issue 17): one's own plan with an employee record; a plan within the scope; the plans one
    # agrees; the targets for the bureau and unit administrators; the organisation for those who read recaps
    "/kinerja/skp": {Role.SUPERVISOR, Role.EMPLOYEE},
    f"/kinerja/skp/pegawai/{BUDI}": {Role.BUREAU_ADMIN, Role.SUPERVISOR, Role.EMPLOYEE},
    f"/kinerja/skp/pegawai/{CITRA}": {Role.BUREAU_ADMIN, Role.UNIT_ADMIN},
    "/kinerja/skp/tim": {Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR},
    "/kinerja/sasaran": {Role.BUREAU_ADMIN, Role.UNIT_ADMIN},
    "/kinerja/organisasi": {Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR},
}


async def test_pages_against_every_role(world: World):
    for role in Role:
        cookie, _ = await session_cookie(world, role)
        for path, allowed in PAGES.items():
            response = await world.client.get(path, cookies={SESSION_COOKIE: cookie}, allow_redirects=False)
            if role in allowed:
                assert response.status == 200, (path, role)
            else:
                # refused by role (403), or outside the scope (404: the unit admin of DIR-2 and Budi)
                assert response.status in (403, 404), (path, role, response.status)
                assert "text/html" in response.headers["Content-Type"]


async def test_unauthenticated_api_is_401_json_and_pages_redirect_to_login(world: World):
    response = await world.client.get("/api/v1/results")
    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"
    page = await world.client.get("/recap?month=2026-01", allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"].startswith("/login?next=/recap")
    bad = await world.client.get("/api/v1/me", headers={"Authorization": "Bearer knj_not-a-token"})
    assert bad.status == 401
    assert (await world.client.get("/api/v1/health")).status == 200


async def test_login_sets_a_hardened_session_cookie_and_logout_needs_csrf(world: World):
    client = world.client
    form = await (await client.get("/login")).text()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    response = await client.post(
        "/login", data={"username": "ani", "password": PASSWORD, "csrf_token": csrf, "next": "//evil.example/x"},
        allow_redirects=False,
    )  # fmt: skip
    assert response.status == 303
    assert response.headers["Location"] == "/dashboard"  # never an off-site redirect
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    me = await (await client.get("/api/v1/me")).json()
    assert me["role"] == "supervisor"
    # A state-changing request with the session but without the CSRF token is refused.
    assert (await client.post("/logout", allow_redirects=False)).status == 403
    page = await (await client.get("/dashboard")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert (await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)).status == 303
    assert (await client.get("/api/v1/me")).status == 401


async def test_login_without_its_csrf_cookie_is_refused(world: World):
    response = await world.client.post("/login", data={"username": "ani", "password": PASSWORD, "csrf_token": "x"})
    assert response.status == 403


def test_session_cookie_is_secure_over_tls(monkeypatch):
    response = web.Response()
    set_session_cookie(response, make_mocked_request("GET", "/").clone(scheme="https"), "token")
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["secure"] and cookie["httponly"]
    proxied = make_mocked_request("GET", "/", headers={"X-Forwarded-Proto": "https"})
    response = web.Response()
    set_session_cookie(response, proxied, "token")
    assert not response.cookies[SESSION_COOKIE]["secure"]  # the header alone is not trusted
    monkeypatch.setenv("KINERJA_BEHIND_TLS_PROXY", "1")
    response = web.Response()
    set_session_cookie(response, proxied, "token")
    assert response.cookies[SESSION_COOKIE]["secure"]


async def test_login_is_throttled_after_repeated_failures(world: World):
    client = world.client

    async def attempt(password: str) -> int:
        form = await (await client.get("/login")).text()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        data = {"username": "budi", "password": password, "csrf_token": csrf}
        return (await client.post("/login", data=data, allow_redirects=False)).status

    assert [await attempt("wrong-password") for _ in range(5)] == [401] * 5
    assert await attempt(PASSWORD) == 429  # even the right password waits out the window


async def test_passwords_are_argon2_hashed_and_accounts_checked(world: World):
    user = await UserAccount.get(username="biro")
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert verify_password(user.password_hash, PASSWORD)
    assert not verify_password(user.password_hash, PASSWORD + "x")
    with pytest.raises(AccountError, match="at least"):
        await create_user("short", "abc", "bureau_admin")
    with pytest.raises(AccountError, match="needs --unit"):
        await create_user("ua", "long-enough-password", "unit_admin")
    with pytest.raises(AccountError, match="not in the registry"):
        await create_user("emp", "long-enough-password", "employee", employee_nip="199999999999999999")


async def test_api_tokens_are_issued_to_the_caller_and_work(world: World):
    client = world.client
    response = await client.post("/api/v1/tokens", json={"name": "payroll"}, headers=world.auth(Role.UNIT_ADMIN))
    assert response.status == 201
    token = (await response.json())["token"]
    me = await (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
    assert me["username"] == "admin-dir2"
    bad = await client.post("/api/v1/tokens", json={"name": ""}, headers=world.auth(Role.UNIT_ADMIN))
    assert bad.status == 400


async def test_accounts_managed_over_the_api_within_the_scope(world: World):
    client = world.client
    new = {"username": "citra", "password": "sandi-yang-panjang", "role": "employee", "nip": CITRA}
    assert (
        await client.post("/api/v1/users", json={**new, "nip": BUDI}, headers=world.auth(Role.UNIT_ADMIN))
    ).status == 404
    assert (await client.post("/api/v1/users", json={**new, "role": "bureau_admin"},
                              headers=world.auth(Role.UNIT_ADMIN))).status == 403  # fmt: skip
    created = await client.post("/api/v1/users", json=new, headers=world.auth(Role.UNIT_ADMIN))
    assert created.status == 201 and (await created.json())["role"] == "employee"
    listed = await (await client.get("/api/v1/users", headers=world.auth(Role.UNIT_ADMIN))).json()
    assert [u["username"] for u in listed["items"]] == ["citra"]
    # Disabling ends the account's API access at once.
    budi = world.auth(Role.EMPLOYEE)
    assert (await client.get("/api/v1/me", headers=budi)).status == 200
    assert (await client.post("/api/v1/users/budi/disable", headers=world.auth(Role.UNIT_ADMIN))).status == 404
    assert (await client.post("/api/v1/users/budi/disable", headers=world.auth(Role.BUREAU_ADMIN))).status == 200
    assert (await client.get("/api/v1/me", headers=budi)).status == 401
    # Not a malformed request: the account's own state refuses it (409).
    assert (await client.post("/api/v1/users/biro/disable", headers=world.auth(Role.BUREAU_ADMIN))).status == 409


def test_create_user_command_makes_the_first_bureau_admin(tmp_path, monkeypatch, capsys):
    import io

    from kinerja.cli import main

    monkeypatch.setenv("KINERJA_DB_URL", f"sqlite://{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setattr("sys.stdin", io.StringIO("kata-sandi-pertama\n"))
    args = ["server", "create-user", "biro", "--role", "bureau_admin", "--password-stdin", "--api-token", "ci"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "created bureau_admin account 'biro'" in out and "knj_" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("kata-sandi-pertama\n"))
    assert main(args) == 1  # the name is taken: a clear error, no traceback
    assert "taken" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("pendek\n"))
    assert main(["server", "create-user", "x", "--role", "employee", "--password-stdin"]) == 1


async def test_the_accounts_page_creates_and_disables_within_the_scope(world: World):
    cookie, csrf = await session_cookie(world, Role.UNIT_ADMIN)
    cookies = {SESSION_COOKIE: cookie}
    page = await (await world.client.get("/accounts", cookies=cookies)).text()
    assert 'value="bureau_admin"' not in page  # a unit administrator offers only the roles it may give
    form = {"csrf_token": csrf, "username": "citra", "password": "sandi-yang-panjang", "role": "employee", "nip": CITRA}
    created = await world.client.post("/accounts", data=form, cookies=cookies, allow_redirects=False)
    assert created.headers["Location"] == "/accounts?done=citra"
    outside = await world.client.post("/accounts", data={**form, "username": "budi2", "nip": BUDI}, cookies=cookies,
                                      allow_redirects=False)  # fmt: skip
    assert "error=" in outside.headers["Location"]
    page = await (await world.client.get("/accounts", cookies=cookies)).text()
    assert re.findall(r'<tr data-username="([^"]+)">', page) == ["citra"]
    disabled = await world.client.post("/accounts/citra/disable", data={"csrf_token": csrf}, cookies=cookies,
                                       allow_redirects=False)  # fmt: skip
    assert disabled.headers["Location"] == "/accounts?done=citra"
    assert (await UserAccount.get(username="citra")).active is False


async def test_no_route_answers_with_template_bytes_for_any_role(world: World):
    """Biometric templates (UU 27/2022): with a stored template and an area showing it, no GET route, for
    no role, carries its bytes, raw or base64; the area's view shows only a count by modality."""
    import base64

    from server.area_models import Area, AreaDevice, AreaMember
    from server.biometric_models import BiometricTemplate

    secret = b"TEMPLATE-SECRET-" * 40
    await BiometricTemplate.create(
        unit_code="dir-1", pin="1", employee_nip=ANI, modality="fingerprint", index=6,
        template_format="fingerprint:ZKFinger:10", ciphertext=secret, key_id="k1", size=len(secret),
        source_device_serial="DEV-DIR1", source_gateway_id="gw-dir1", last_upload_id="0" * 32,
    )  # fmt: skip
    area = await Area.create(code="lobby-area", name="Lobi", unit_code="dir-1")
    await AreaDevice.create(device_serial="DEV-DIR1", area=area)
    await AreaMember.create(area=area, employee_nip=ANI, pin="1")
    values = {role: {**OWN[role], "area": "lobby-area"} for role in Role}
    routes = [r for r in api_routes(world.client.app) if r[0] == "GET" and r not in PUBLIC]
    seen_view = False
    for _method, template in routes:
        for role in Role:
            path = re.sub(r"\{(\w+)\}", lambda m, v=values[role]: v[m.group(1)], template)
            params = {name: values[role]["unit"] for name in RULES[("GET", template)].unit_params}
            response = await world.client.get(path, params=params, headers=world.auth(role))
            text = await response.read()
            for shape in (secret[:32], base64.b64encode(secret)[:32], secret.hex()[:32].encode()):
                assert shape not in text, (template, role)
            if template.endswith("/device-users") and response.status == 200:
                seen_view = True
                assert (await response.json())["users"][0]["templates"] == {"fingerprint": 1}
    assert seen_view


# The device-management pages (issue 18), with an area in each directorate: who may read them, and who
# may send each of their forms. DIR-2's unit administrator sees only DIR-2's area; operations reads
# everything but changes no area; supervisors and employees see none of it.
BUR, UNI, SUP, EMP, OPS = Role.BUREAU_ADMIN, Role.UNIT_ADMIN, Role.SUPERVISOR, Role.EMPLOYEE, Role.OPERATIONS
DEVICE_PAGES = {
    "/areas": {BUR, UNI, OPS},
    "/areas/pintu": {BUR, UNI, OPS},
    "/areas/gedung": {BUR, OPS},
    "/areas/pintu/devices/DEV-DIR2": {BUR, UNI, OPS},
    "/areas/gedung/devices/DEV-DIR1": {BUR, OPS},
    "/devices/pending": {BUR, UNI, OPS},
    "/devices/commands": {BUR, UNI, OPS},
    # issue 20: a gateway's telemetry page for whoever sees the fleet (in scope); its configuration page,
    # which sends revisions, for those the access table lets PUT .../config: the bureau and operations.
    "/fleet/gw-dir1": {BUR, OPS},
    "/fleet/gw-dir2": {BUR, UNI, OPS},
    "/fleet/gw-dir1/config": {BUR, OPS},
    "/fleet/gw-dir2/config": {BUR, OPS},
    f"/employees/{CITRA}/devices": {BUR, UNI},
    f"/employees/{BUDI}/devices": {BUR},
}
# Each form with input its allowed roles are refused for (400/404, nothing changes), so the order of the
# roles does not matter; a role not allowed is refused before the input is read (403).
DEVICE_FORMS = {
    ("/areas", (("unit", "dir-2"), ("code", "Bad Code"), ("name", "x"))): {BUR, UNI},
    ("/areas/pintu/devices", (("serial", "NO-SUCH"),)): {BUR, UNI},
    ("/areas/pintu/devices/NO-SUCH/remove", ()): {BUR, UNI},
    ("/areas/pintu/members", (("nip", "123"),)): {BUR, UNI},
    (f"/areas/pintu/members/{ANI}/remove", ()): {BUR, UNI},
    ("/areas/pintu/sync", (("serial", "NO-SUCH"),)): {BUR, OPS},
    ("/devices/pending/999999/adopt", ()): {BUR, UNI},
    ("/devices/commands", (("action", "format_disk"), ("serial", "DEV-DIR2"))): {BUR, OPS},
    ("/fleet/gw-dir2/config", (("rows", "1"), ("name-0", "Bad Name"), ("host-0", "127.0.0.1"))): {BUR, OPS},
    (f"/employees/{CITRA}/devices/areas", (("area", "no-such-area"),)): {BUR, UNI},
    (f"/employees/{CITRA}/devices/areas/gedung/push", ()): {BUR, UNI},
    (f"/employees/{CITRA}/devices/areas/no-such-area/remove", ()): {BUR, UNI},
}


async def test_device_management_pages_and_forms_against_every_role(world: World):
    from server.area_models import Area, AreaDevice, AreaMember

    for code, unit, serial, nip in (("gedung", "dir-1", "DEV-DIR1", BUDI), ("pintu", "dir-2", "DEV-DIR2", CITRA)):
        area = await Area.create(code=code, name=f"Area {code}", unit_code=unit)
        await AreaDevice.create(area=area, device_serial=serial)
        await AreaMember.create(area=area, employee_nip=nip, pin="1")
    for role in Role:
        cookie, csrf = await session_cookie(world, role)
        cookies = {SESSION_COOKIE: cookie}
        for path, allowed in DEVICE_PAGES.items():
            response = await world.client.get(path, cookies=cookies, allow_redirects=False)
            assert "text/html" in response.headers["Content-Type"], (path, role)
            if role in allowed:
                assert response.status == 200, (path, role, response.status)
            else:
                assert response.status in (403, 404), (path, role, response.status)
        for (path, fields), allowed in DEVICE_FORMS.items():
            data = {"csrf_token": csrf, **dict(fields)}
            response = await world.client.post(path, data=data, cookies=cookies, allow_redirects=False)
            assert "text/html" in response.headers["Content-Type"], (path, role)
            if role in allowed:
                assert response.status in (400, 404), (path, role, response.status)
            else:
                assert response.status == 403, (path, role, response.status)
            without = await world.client.post(path, data=dict(fields), cookies=cookies, allow_redirects=False)
            assert without.status == 403, (path, role, "no CSRF token")  # never changes anything
    # Nothing the refused forms sent changed the areas.
    assert await Area.all().count() == 2 and await AreaDevice.all().count() == 2
    assert await AreaMember.all().count() == 2
