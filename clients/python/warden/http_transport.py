"""Calls a Warden server over its HTTP API (``/v1``) with the standard library: ``http.client`` with one
kept-alive connection per thread (a new TCP connection per call would double a check's round trip)."""

from __future__ import annotations

import errno
import http.client
import json
import threading
import time
import urllib.parse
from typing import Any, Mapping

from .errors import ConfigInvalid, WardenError, error_for
from .task_token import TASK_TOKEN_HEADER

#: A kept-alive connection idle longer than this is not reused: the server may have closed it meanwhile
#: (Node's default keep-alive timeout is 5 s), and a request sent into a closed connection cannot be
#: safely retried (it might have been decided).
_IDLE_REUSE_S = 4.0


class HttpTransport:
    """One Warden server and one API key. Thread-safe: each thread has its own connection."""

    __slots__ = ("_scheme", "_host", "_port", "_prefix", "_base", "_key", "_timeout", "_local", "_open", "_lock")

    def __init__(self, url: str, key: str, *, timeout: float = 30.0) -> None:
        if not isinstance(url, str) or url == "":
            raise ConfigInvalid("CONFIG_INVALID", f"url {url!r} is not a URL; use e.g. http://localhost:7400")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigInvalid(
                "CONFIG_INVALID",
                f"url {_shown(url)!r} is not an http(s) URL; use e.g. http://localhost:7400",
            )
        try:
            port = parts.port
        except ValueError:
            raise ConfigInvalid("CONFIG_INVALID", f"url {_shown(url)!r} has a malformed port") from None
        if not isinstance(key, str) or key.strip() == "":
            raise ConfigInvalid(
                "CONFIG_INVALID",
                "key is missing: pass an agent key (npm run warden -- keys create --agent <name>)",
            )
        if any(c in key for c in "\r\n"):
            raise ConfigInvalid("CONFIG_INVALID", "key contains a line break; pass the key as printed")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ConfigInvalid("CONFIG_INVALID", f"timeout must be a positive number of seconds, got {timeout!r}")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = port
        self._prefix = parts.path.rstrip("/")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self._base = f"{parts.scheme}://{host}{'' if port is None else f':{port}'}{self._prefix}"
        self._key = key
        self._timeout = float(timeout)
        self._local = threading.local()
        # Every thread's connection, so close() ends them all (asyncio.to_thread runs in pool threads).
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        """The server's base URL (without any credentials the given URL carried)."""
        return self._base

    @property
    def timeout(self) -> float:
        return self._timeout

    def __repr__(self) -> str:
        return f"HttpTransport(url={self._base!r})"

    def with_key(self, key: str) -> HttpTransport:
        """The same server with another key (a delegated child agent's own)."""
        return HttpTransport(self._base, key, timeout=self._timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        task_token: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Sends one request and returns its JSON answer; raises WardenError with the server's code, or
        WARDEN_UNREACHABLE when no answer came."""
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json"}
        if task_token is not None:
            headers[TASK_TOKEN_HEADER] = task_token
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        where = f"{method} {path.split('?')[0]}"
        wait = self._timeout if timeout is None else timeout
        conn = self._connection(wait)
        try:
            conn.request(method, self._prefix + path, body=data, headers=headers)
            res = conn.getresponse()
            status = res.status
            text = res.read()
        except TimeoutError:
            self._drop()
            raise WardenError(
                "STORE_UNAVAILABLE",
                f"Warden at {self._base} did not answer {where} within {wait:g} s",
                {"url": self._base},
            ) from None
        except (OSError, http.client.HTTPException) as err:
            self._drop()
            raise _unreachable(self._base, err) from None
        if res.will_close:
            self._drop()
        else:
            self._local.used = time.monotonic()
        return _answer(status, text, where)

    def close(self) -> None:
        """Closes every thread's connection (a later request opens a new one)."""
        with self._lock:
            conns, self._open = self._open, set()
        for conn in conns:
            conn.close()

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        used: float = getattr(self._local, "used", 0.0)
        if conn is not None and time.monotonic() - used > _IDLE_REUSE_S:
            self._drop()
            conn = None
        if conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=timeout)
            self._local.conn = conn
        with self._lock:
            # Again after a close() from another thread: http.client reopens the socket on the next request.
            self._open.add(conn)
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with self._lock:
                self._open.discard(conn)
            conn.close()


def _answer(status: int, text: bytes, where: str) -> Any:
    try:
        parsed: Any = json.loads(text) if text else {}
    except ValueError:
        raise WardenError(
            "INTERNAL", f"Warden answered {where} with {status} and a body that is not JSON", {"status": status}
        ) from None
    if 200 <= status < 300:
        return parsed
    err = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(err, dict):
        raise WardenError("INTERNAL", f"Warden answered {where} with {status}", {"status": status})
    details = err.get("details") if isinstance(err.get("details"), dict) else {}
    code = err.get("code") if isinstance(err.get("code"), str) else "INTERNAL"
    message = err.get("message") if isinstance(err.get("message"), str) else f"Warden answered {status}"
    return _raise(error_for(code, message, {**details, "status": status}))


def _raise(err: WardenError) -> Any:
    raise err


def _unreachable(base: str, err: BaseException) -> WardenError:
    """WARDEN_UNREACHABLE for a request that never got an answer: the URL, the reason, what to check."""
    code = getattr(err, "errno", None)
    why = errno.errorcode.get(code, "") if isinstance(code, int) else ""
    if not why:
        why = str(err) or type(err).__name__
    return error_for(
        "WARDEN_UNREACHABLE",
        f"Warden at {base} is unreachable ({why}): is `warden serve` running there, and is that the right URL?",
        {"url": base, "cause": why},
    )


def _shown(url: str) -> str:
    """A URL as it may appear in a message: without user and password."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
