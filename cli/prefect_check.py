"""`safeguard config check` asks the configured Prefect API two questions, as a stranger would:
does it answer without credentials, and is its CSRF protection on (docs/deployment.md, section 5)."""

from __future__ import annotations

import base64

import httpx

GUIDE = "docs/deployment.md, 'Securing the Prefect server'"


def configured_api() -> tuple[str | None, str | None]:
    """The Prefect API URL and auth string this process would use (environment or profile)."""
    from prefect.settings import get_current_settings
    api = get_current_settings().api
    return api.url, api.auth_string.get_secret_value() if api.auth_string else None


def prefect_api_warnings(api_url: str, auth_string: str | None = None, timeout: float = 10) -> list[str]:
    """Plain-English warnings; none when the API turns strangers away and CSRF protection is on."""
    base = api_url.rstrip("/")
    try:
        stranger = httpx.get(f"{base}/admin/version", timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        return [f"Could not reach the Prefect API at {base} ({type(exc).__name__}): check PREFECT_API_URL "
                "and that the server is running."]
    warnings = []
    if stranger.status_code == 200:
        warnings.append(f"The Prefect API at {base} answers without authentication: anyone who can reach it "
                        "can read every run and answer an approval form in anyone's name. Put it behind an "
                        "authenticating reverse proxy (SSO) or set PREFECT_SERVER_API_AUTH_STRING on the "
                        f"server and PREFECT_API_AUTH_STRING on workers ({GUIDE}).")
    token = base64.b64encode(auth_string.encode()).decode() if auth_string else ""
    headers = {"Authorization": f"Basic {token}"} if token else {}
    if stranger.status_code == 200 or auth_string:
        csrf = httpx.get(f"{base}/csrf-token", params={"client": "safeguard-config-check"}, headers=headers,
                         timeout=timeout)
        if csrf.status_code == 422:
            warnings.append(f"CSRF protection is off on the Prefect server at {base}: set "
                            "PREFECT_SERVER_CSRF_PROTECTION_ENABLED=true on the server and "
                            f"PREFECT_CLIENT_CSRF_SUPPORT_ENABLED=true where flows run ({GUIDE}).")
    return warnings
