"""What the conformance scripts share: the settings read from the environment, the credential
and client options every Microsoft SDK client gets, the check runner and its report, and the
wire log.

The scripts talk to the endpoint they are given exactly as they would talk to Azure: Microsoft's
SDK clients and azure-identity's ClientSecretCredential, nothing patched. Only the endpoints,
the CA bundle, the LRO poll interval and the credentials come from the environment.

Environment (the Rust test `tests/it/sdk_conformance.rs` sets all of it):

    PGFLEET_SDK_ARM_ENDPOINT   the ARM endpoint (`base_url`), e.g. https://127.0.0.1:PORT
    AZURE_AUTHORITY_HOST       the token authority, e.g. the same https://127.0.0.1:PORT
    AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET
    AZURE_SUBSCRIPTION_ID      default 00000000-0000-0000-0000-000000000001
    REQUESTS_CA_BUNDLE         the CA that signed the endpoint's certificate (PEM), if not a public one
    PGFLEET_SDK_SCOPE          default https://management.azure.com/.default
    PGFLEET_SDK_RESOURCE_GROUP default rg-sdk-conformance
    PGFLEET_SDK_LOCATION       default westeurope
    PGFLEET_SDK_POLL_INTERVAL  seconds between LRO polls without Retry-After, default 0.25
                               (the SDK's default is 30 s, meant for Azure's minutes)
    PGFLEET_SDK_LRO_TIMEOUT    seconds one LRO may take, default 120
    PGFLEET_SDK_WIRE_LOG       a file: every request and answer, one line each
    PGFLEET_SDK_HTTP_DEBUG     a file: the DEBUG log of azure.core's http_logging_policy

Output: one line per check, `PASS name` or `FAIL name: reason`, then a summary line; the exit
code is 0 only when every check passed.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Iterable, List, Optional
from urllib.parse import urlsplit

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential

DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
DEFAULT_SCOPE = "https://management.azure.com/.default"
ADMIN_LOGIN = "sdkadmin"
ADMIN_PASSWORD = "Correct-Horse-9"


class SetupError(Exception):
    """The environment does not say where to go."""


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SetupError(f"{name} is not set")
    return value


@dataclass
class Settings:
    arm_endpoint: str
    authority: str
    tenant_id: str
    client_id: str
    client_secret: str
    subscription_id: str
    scope: str
    resource_group: str
    location: str
    ca_bundle: Optional[str]
    poll_interval: float
    lro_timeout: float
    wire_log: Optional[str]
    http_debug: Optional[str]

    @staticmethod
    def from_environment() -> "Settings":
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or None
        if ca_bundle and not os.path.isfile(ca_bundle):
            raise SetupError(f"REQUESTS_CA_BUNDLE={ca_bundle} is not a file")
        return Settings(
            arm_endpoint=_required("PGFLEET_SDK_ARM_ENDPOINT").rstrip("/"),
            authority=_required("AZURE_AUTHORITY_HOST").rstrip("/"),
            tenant_id=_required("AZURE_TENANT_ID"),
            client_id=_required("AZURE_CLIENT_ID"),
            client_secret=_required("AZURE_CLIENT_SECRET"),
            subscription_id=os.environ.get("AZURE_SUBSCRIPTION_ID") or DEFAULT_SUBSCRIPTION,
            scope=os.environ.get("PGFLEET_SDK_SCOPE") or DEFAULT_SCOPE,
            resource_group=os.environ.get("PGFLEET_SDK_RESOURCE_GROUP") or "rg-sdk-conformance",
            location=os.environ.get("PGFLEET_SDK_LOCATION") or "westeurope",
            ca_bundle=ca_bundle,
            poll_interval=float(os.environ.get("PGFLEET_SDK_POLL_INTERVAL") or 0.25),
            lro_timeout=float(os.environ.get("PGFLEET_SDK_LRO_TIMEOUT") or 120),
            wire_log=os.environ.get("PGFLEET_SDK_WIRE_LOG") or None,
            http_debug=os.environ.get("PGFLEET_SDK_HTTP_DEBUG") or None,
        )


class WireLog:
    """One line per request and per answer, through the SDK's own raw request/response hooks
    (they run after the retry policy, so every attempt shows, retried faults included)."""

    def __init__(self, path: Optional[str]):
        self._file = open(path, "a", encoding="utf-8") if path else None

    def write(self, line: str) -> None:
        if self._file:
            self._file.write(line + "\n")
            self._file.flush()

    def on_request(self, request) -> None:
        http = request.http_request
        body = ""
        if http.method in ("PUT", "PATCH", "POST") and isinstance(http.body, (str, bytes)):
            text = http.body.decode("utf-8", "replace") if isinstance(http.body, bytes) else http.body
            body = " " + _redacted(text)
        self.write(f"> {http.method} {_path(http.url)}{body}")

    def on_response(self, response) -> None:
        http = response.http_response
        headers = {k.lower(): v for k, v in http.headers.items()}
        shown = [
            f"{name}={_path(headers[name]) if name != 'retry-after' else headers[name]}"
            for name in ("azure-asyncoperation", "location", "retry-after")
            if name in headers
        ]
        body = ""
        try:
            text = http.text()
            if text:
                text = re.sub(r'("(?:access|refresh|id)_token"\s*:\s*)"[^"]*"', r'\1"****"', text)
                body = " " + text.replace("\n", " ")[:600]
        except Exception:  # noqa: BLE001 - a streamed body is read later by the SDK
            body = " (streamed)"
        extra = (" [" + " ".join(shown) + "]") if shown else ""
        self.write(f"< {http.status_code} {http.request.method} {_path(http.request.url)}{extra}{body}")


def _redacted(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return "(form body)" if "client_secret" in text else text[:300]

    def walk(node):
        if isinstance(node, dict):
            return {
                k: ("****" if "password" in k.lower() or "secret" in k.lower() else walk(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return json.dumps(walk(value), separators=(",", ":"))[:600]


def _path(url: str) -> str:
    """The path and query of a URL (the host is the emulator's, the same everywhere)."""
    parts = urlsplit(url)
    return parts.path + (("?" + parts.query) if parts.query else "")


class Context:
    """The credential and the options every SDK client is built with."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.wire = WireLog(settings.wire_log)
        if settings.http_debug:
            handler = logging.FileHandler(settings.http_debug)
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
            for name in ("azure.core.pipeline.policies.http_logging_policy", "azure.identity", "msal"):
                logger = logging.getLogger(name)
                logger.setLevel(logging.DEBUG)
                logger.addHandler(handler)
        transport = {"connection_verify": settings.ca_bundle} if settings.ca_bundle else {}
        self.credential = ClientSecretCredential(
            settings.tenant_id,
            settings.client_id,
            settings.client_secret,
            authority=settings.authority,
            # The emulator is not one of Microsoft's clouds: no instance discovery at
            # login.microsoftonline.com (MSAL still reads the tenant's openid-configuration).
            disable_instance_discovery=True,
            raw_request_hook=self.wire.on_request,
            raw_response_hook=self.wire.on_response,
            **transport,
        )
        self.client_options = dict(
            base_url=settings.arm_endpoint,
            credential_scopes=[settings.scope],
            polling_interval=settings.poll_interval,
            raw_request_hook=self.wire.on_request,
            raw_response_hook=self.wire.on_response,
            **transport,
        )

    def client(self, client_class):
        """An SDK management client for the subscription, pointed at the endpoint."""
        return client_class(self.credential, self.settings.subscription_id, **self.client_options)

    def wait(self, poller, what: str):
        """The result of a long-running operation, or a failure when it outlasts the timeout."""
        result = poller.result(timeout=self.settings.lro_timeout)
        if not poller.done():
            raise AssertionError(
                f"{what} still {poller.status()} after {self.settings.lro_timeout:.0f} s of polling"
            )
        return result


class CheckFailed(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def expect_equal(actual, expected, what: str) -> None:
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def expect_http_error(call: Callable[[], object], code: str, what: str) -> HttpResponseError:
    """Runs `call`, which must raise an HttpResponseError whose ARM error code is `code` (an
    error answered at once, or an LRO that ends Failed: the SDK raises either way)."""
    try:
        result = call()
    except HttpResponseError as error:
        actual = error_code(error)
        if actual != code:
            raise CheckFailed(f"{what}: expected error code {code!r}, got {describe(error)}") from error
        return error
    raise CheckFailed(f"{what}: expected HttpResponseError {code!r}, but it succeeded: {result!r}")


def expect_not_found(call: Callable[[], object], what: str) -> None:
    try:
        result = call()
    except ResourceNotFoundError:
        return
    except HttpResponseError as error:
        raise CheckFailed(f"{what}: expected ResourceNotFoundError (404), got {describe(error)}") from error
    raise CheckFailed(f"{what}: expected ResourceNotFoundError (404), but it was found: {result!r}")


def error_code(error: HttpResponseError) -> Optional[str]:
    odata = getattr(error, "error", None)
    code = getattr(odata, "code", None)
    if code:
        return code
    response = getattr(error, "response", None)
    try:
        body = response.json() if response is not None else None
        return (body or {}).get("error", {}).get("code")
    except Exception:  # noqa: BLE001 - not JSON
        return None


def describe(error: BaseException) -> str:
    """One line saying what failed on the wire: status, method, path, ARM code and message,
    or the body when it is not ARM's error shape."""
    if isinstance(error, HttpResponseError):
        response = error.response
        where = ""
        body_text = ""
        if response is not None:
            request = getattr(response, "request", None)
            if request is not None:
                where = f" {request.method} {_path(request.url)}"
            try:
                body_text = response.text()
            except Exception:  # noqa: BLE001
                body_text = ""
        code = error_code(error)
        odata = getattr(error, "error", None)
        message = getattr(odata, "message", None) if odata is not None else None
        if code:
            detail = f"{code}: {message or ''}".strip()
        else:
            detail = f"body {body_text[:300]!r}" if body_text else f"empty body ({error.message})"
        status = f" HTTP {error.status_code}" if error.status_code is not None else ""
        return f"{type(error).__name__}{status}{where}: {detail}".replace("\n", " ")
    text = str(error).replace("\n", " ")
    return f"{type(error).__name__}: {text}"[:1200]


@dataclass
class Check:
    name: str
    run: Callable[[], None]
    requires: List[str] = field(default_factory=list)


class Suite:
    """Named checks run in order; a check whose prerequisite failed fails without running, and
    says which."""

    def __init__(self, service: str):
        self.service = service
        self.checks: List[Check] = []

    def check(self, *, requires: Iterable[str] = ()):
        def register(function: Callable[[], None]):
            self.checks.append(Check(function.__name__, function, list(requires)))
            return function

        return register

    def run(self) -> int:
        failed: dict = {}
        passed = 0
        for check in self.checks:
            missing = [name for name in check.requires if name in failed]
            if missing:
                failed[check.name] = f"not run: needs {', '.join(missing)}, which failed"
                print(f"FAIL {check.name}: {failed[check.name]}", flush=True)
                continue
            started = time.monotonic()
            try:
                check.run()
            except Exception as error:  # noqa: BLE001 - every failure is reported, none stops the run
                failed[check.name] = describe(error)
                print(f"FAIL {check.name}: {failed[check.name]}", flush=True)
                if os.environ.get("PGFLEET_SDK_TRACEBACKS"):
                    traceback.print_exc()
                continue
            passed += 1
            print(f"PASS {check.name} ({time.monotonic() - started:.1f}s)", flush=True)
        total = len(self.checks)
        # Not "N passed, N failed": that shape is a test runner's closing line to CI.
        print(f"summary: {self.service}: {passed} of {total} checks passed; failed: {len(failed)}", flush=True)
        return 0 if not failed else 1


def main(build: Callable[[Context], Suite]) -> None:
    try:
        context = Context(Settings.from_environment())
    except SetupError as error:
        print(f"FAIL setup: {error}", flush=True)
        sys.exit(2)
    suite = build(context)
    sys.exit(suite.run())
