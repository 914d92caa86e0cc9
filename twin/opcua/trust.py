"""Client certificates: a trust list in the state directory, with an explicit --trust-new.

``STATE/pki/trusted/`` holds the client certificates the server accepts (DER or PEM, any file
name); a client presenting any other certificate is refused with BadCertificateUntrusted and its
certificate is written to ``STATE/pki/rejected/`` so that an administrator can inspect it and move
it to ``trusted/`` (no restart needed: the folder is read on each new session). With
``trust_new`` (``twin serve --trust-new``, for first use), an unknown certificate is trusted and
saved into ``trusted/`` instead, loudly logged. Expired or not-yet-valid certificates are
refused either way.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from asyncua import ua
from asyncua.common.utils import ServiceError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

log = logging.getLogger(__name__)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _load(path: Path) -> x509.Certificate | None:
    data = path.read_bytes()
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        log.warning("trust list: %s is not a certificate; ignored", path)
        return None


class TrustList:
    def __init__(self, state_dir: Path, trust_new: bool = False) -> None:
        self.trusted_dir = state_dir / "pki" / "trusted"
        self.rejected_dir = state_dir / "pki" / "rejected"
        self.trusted_dir.mkdir(parents=True, exist_ok=True)
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        self.trust_new = trust_new

    def trusted(self) -> set[str]:
        prints = set()
        for path in sorted(self.trusted_dir.iterdir()):
            if path.is_file():
                cert = _load(path)
                if cert is not None:
                    prints.add(fingerprint(cert))
        return prints

    def _save(self, folder: Path, cert: x509.Certificate, app_uri: str) -> Path:
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in app_uri)[:80] or "client"
        path = folder / f"{name}-{fingerprint(cert)[:16]}.der"
        path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        return path

    async def validate(self, cert: x509.Certificate, app: ua.ApplicationDescription) -> None:
        """asyncua's certificate-validator hook: raise ServiceError to refuse."""
        now = datetime.now(UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            log.warning("refused client %s: certificate valid %s to %s", app.ApplicationUri,
                        cert.not_valid_before_utc, cert.not_valid_after_utc)
            raise ServiceError(ua.StatusCodes.BadCertificateTimeInvalid)
        if fingerprint(cert) in self.trusted():
            return
        if self.trust_new:
            path = self._save(self.trusted_dir, cert, app.ApplicationUri or "")
            log.warning("trusted a new client certificate for %s (--trust-new): %s",
                        app.ApplicationUri, path)
            return
        path = self._save(self.rejected_dir, cert, app.ApplicationUri or "")
        log.warning("refused untrusted client certificate of %s; to trust it, move %s to %s",
                    app.ApplicationUri, path, self.trusted_dir)
        raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)
