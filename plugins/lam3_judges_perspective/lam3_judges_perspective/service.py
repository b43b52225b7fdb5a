"""Talking to the Perspective service: the discovery client, and what its errors mean.

The googleapiclient client is built from a discovery document fetched at run time
(commentanalyzer is not among the library's bundled documents), with the library's own
retries off so that lam3's retry policy is the only one. Errors are sorted into those worth
retrying and those that mean the service refuses us (bad key, or the API is gone: it shuts
down on 2026-12-31).
"""

from __future__ import annotations

import logging
from urllib.parse import urlparse

import httplib2
from googleapiclient import discovery
from googleapiclient.errors import HttpError, UnknownApiNameOrVersion

from lam3_core.kit.secrets import scrub

DISCOVERY_URL = "https://commentanalyzer.googleapis.com/$discovery/rest?version=v1alpha1"
GOOGLE_HOST = "commentanalyzer.googleapis.com"
SHUTDOWN_NOTICE = (
    "Note: the Perspective API is shut down on 2026-12-31 (announced by Google/Jigsaw; sign-ups are closed), after "
    "which every request fails; use an offline judge instead: detoxify, llamaguard, hf_classifier, profanity, refusal."
)
# Loggers that may print a request URL, which carries the key as ``?key=...`` (at DEBUG/INFO).
SDK_LOGGERS = ("googleapiclient.discovery", "googleapiclient.http", "googleapiclient.model")
REFUSED_STATUSES = (403, 404, 410)

CLIENT_ERRORS: tuple[type[Exception], ...] = (HttpError, UnknownApiNameOrVersion, httplib2.HttpLib2Error, OSError,
                                              ValueError)
"""What a request can raise: HTTP errors, timeouts and connection errors (OSError), bad JSON (ValueError)."""


def build_client(key: str, discovery_url: str, endpoint: str | None, timeout: float):
    """The commentanalyzer v1alpha1 client; fetches the discovery document (one GET)."""
    return discovery.build(
        "commentanalyzer", "v1alpha1",
        http=httplib2.Http(timeout=timeout),
        developerKey=key,
        discoveryServiceUrl=discovery_url,
        static_discovery=False,
        cache_discovery=False,
        num_retries=0,
        client_options={"api_endpoint": endpoint} if endpoint else None,
    )


def is_retryable(exc: Exception) -> bool:
    """Quota (429), server errors (5xx), timeouts and dropped connections; not a refused or unknown host."""
    if isinstance(exc, HttpError):
        return exc.status_code == 429 or exc.status_code >= 500
    if isinstance(exc, (ConnectionRefusedError, httplib2.ServerNotFoundError)):
        return False
    return isinstance(exc, (TimeoutError, ConnectionError))


def retry_after(exc: Exception) -> str | None:
    """The ``Retry-After`` header of an HTTP error, if any."""
    return exc.resp.get("retry-after") if isinstance(exc, HttpError) else None


def talks_to_google(*urls: str | None) -> bool:
    """Whether any of these URLs is the real Perspective host (not a local stand-in)."""
    return any(url and urlparse(url).hostname == GOOGLE_HOST for url in urls)


def is_refusal(exc: Exception, google: bool) -> bool:
    """The service refuses us, so every further request fails the same way (403/404/410, API gone, host down)."""
    if isinstance(exc, HttpError):
        return exc.status_code in REFUSED_STATUSES
    if isinstance(exc, UnknownApiNameOrVersion):
        return True
    return google and isinstance(exc, (ConnectionRefusedError, httplib2.ServerNotFoundError))


class _KeyScrubber(logging.Filter):
    """Rewrites googleapiclient log records so that no key handed to ``hide_in_logs`` reaches a log."""

    def __init__(self):
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = scrub(message, secret)
            record.msg, record.args = message, None
        return True


_SCRUBBER = _KeyScrubber()
for _name in SDK_LOGGERS:
    logging.getLogger(_name).addFilter(_SCRUBBER)


def hide_in_logs(key: str) -> None:
    """Scrub ``key`` from everything googleapiclient logs from now on in this process."""
    _SCRUBBER.secrets.add(key)
