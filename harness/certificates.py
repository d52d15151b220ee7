"""Self-signed certificates for the test peers: the token server's signing certificate
(the registry's ``rootcertbundle``) and a TLS registry's server certificate."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID


def self_signed(
    key: CertificateIssuerPrivateKeyTypes,
    common_name: str,
    *,
    valid: dt.timedelta,
    since: dt.timedelta = dt.timedelta(minutes=5),
    extensions: tuple[tuple[x509.ExtensionType, bool], ...] = (),
) -> bytes:
    """A certificate of ``key`` signed by itself, valid from ``since`` ago until ``valid``
    from now, with ``extensions`` (each with whether it is critical), as PEM."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - since)
        .not_valid_after(now + valid)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
