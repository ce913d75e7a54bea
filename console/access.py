"""Who is signed in to the console: API-key sign-in, server-side sessions, roles and CSRF tokens.

A person signs in with an API key from ``CHURN_API_KEYS`` (the service's own
key ring, :class:`serving.auth.KeyRing`); the console keeps only the key's id
(first 12 hex digits of its SHA-256), never the key. The browser holds a random
session token in a cookie that scripts cannot read (HttpOnly), that is never
sent with a request another site starts (SameSite=Strict) and, behind TLS,
never over plain HTTP (Secure). Every form that changes something carries the
session's CSRF token, checked in constant time. Sessions live in this process's
memory: a restart signs everyone out, which is the safe failure.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from serving.auth import Identity, KeyRing

COOKIE = "churn_console"
SESSION_SECONDS = 8 * 3600
ROLES = ("viewer", "admin")


@dataclass(frozen=True)
class Session:
    token: str
    key_id: str
    role: str
    csrf: str
    expires: float

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def role_of(identity: Identity) -> str:
    """Admins hold the ``admin`` scope; every other valid key may look."""
    return "admin" if identity.may("admin") else "viewer"


class Sessions:
    def __init__(self, keys: KeyRing, lifetime: float = SESSION_SECONDS) -> None:
        self.keys = keys
        self.lifetime = lifetime
        self._by_token: dict[str, Session] = {}
        self._lock = threading.Lock()

    def sign_in(self, presented: str) -> Session | None:
        identity = self.keys.identify(presented.strip()) if presented else None
        if identity is None:
            return None
        session = Session(secrets.token_urlsafe(32), identity.key_id, role_of(identity), secrets.token_urlsafe(32),
                          time.time() + self.lifetime)  # fmt: skip
        with self._lock:
            now = time.time()
            self._by_token = {t: s for t, s in self._by_token.items() if s.expires > now}
            self._by_token[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            session = self._by_token.get(token)
        if session is None or session.expires <= time.time():
            return None
        return session

    def sign_out(self, token: str) -> None:
        with self._lock:
            self._by_token.pop(token, None)


def csrf_ok(session: Session, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(session.csrf, str(presented))


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a path on this console only (no ``//host`` or scheme), else the overview."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
