import stat

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from accounts import keys
from accounts.checks import check_jwt_keys
from food_common.testing import make_access_token
from food_common.tokens import TokenInvalid, get_verifier


def new_rsa_key(bits: int = 2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_kid_is_the_rfc_7638_thumbprint():
    # RFC 7638 section 3.1
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    public_key = jwt.PyJWK({"kty": "RSA", "n": n, "e": "AQAB"}).key

    assert keys.jwk_thumbprint(public_key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_jwks_publishes_the_signing_key(jwt_key_file):
    key = keys.signing_key()

    assert keys.jwks() == {"keys": [keys.public_jwk(key.private_key.public_key(), kid=key.kid)]}
    assert (
        keys.public_key_for_kid(key.kid).public_numbers()
        == key.private_key.public_key().public_numbers()
    )


def test_unknown_kid_is_token_invalid():
    with pytest.raises(TokenInvalid):
        keys.public_key_for_kid("not-a-kid")


def test_retired_keys_stay_published_during_a_rotation(settings, tmp_path, jwt_key_file):
    # Given two older keys published next to the current one
    old, older = new_rsa_key(), new_rsa_key()
    extra = tmp_path / "old_public_keys.pem"
    extra.write_bytes(public_pem(old) + public_pem(older))
    settings.JWT_EXTRA_PUBLIC_KEYS_FILE = str(extra)
    old_kid = keys.jwk_thumbprint(old.public_key())

    # Then the JWKS lists all three, the current key first
    kids = [jwk["kid"] for jwk in keys.jwks()["keys"]]
    assert kids == [keys.signing_key().kid, old_kid, keys.jwk_thumbprint(older.public_key())]
    # and an access token signed with the old key still verifies
    token = make_access_token(7, private_key=old, kid=old_kid)
    assert get_verifier().verify(token)["sub"] == "7"


def test_private_key_can_be_given_as_pem_text_with_escaped_newlines(settings, jwt_key_file):
    settings.JWT_PRIVATE_KEY = jwt_key_file.read_text().replace("\n", "\\n")
    settings.JWT_PRIVATE_KEY_FILE = ""

    assert keys.signing_key().kid == keys.jwk_thumbprint(
        serialization.load_pem_private_key(jwt_key_file.read_bytes(), None).public_key()
    )


def test_local_key_is_generated_once_when_debug_is_on(settings, tmp_path):
    settings.DEBUG = True
    settings.JWT_PRIVATE_KEY_FILE = ""
    path = tmp_path / "keys" / "local.pem"
    settings.JWT_LOCAL_PRIVATE_KEY_FILE = str(path)

    kid = keys.signing_key().kid

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(path.parent.iterdir()) == [path]
    keys._signing_key.cache_clear()
    assert keys.signing_key().kid == kid


@pytest.mark.parametrize(
    "pem, message",
    [
        ("not a key", "JWT private key is not a valid RSA PEM key: Unable to load PEM file"),
        (
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            "JWT private key is not a valid RSA PEM key: ",
        ),
        (
            keys.private_key_pem(ec.generate_private_key(ec.SECP256R1())).decode(),
            "JWT private key is not a valid RSA PEM key: it is a ",
        ),
        (
            keys.private_key_pem(new_rsa_key(1024)).decode(),
            "it has 1024 bits, at least 2048 needed",
        ),
    ],
)
def test_malformed_key_is_a_system_check_error(settings, pem, message):
    settings.JWT_PRIVATE_KEY = pem

    [error] = check_jwt_keys(None)

    assert error.id == "accounts.E001"
    assert message in error.msg and "\n" not in error.msg


def test_malformed_key_fails_check_and_preflight(settings, capsys):
    settings.JWT_PRIVATE_KEY = "not a key"

    assert "accounts.E001" in [error.id for error in run_checks()]
    with pytest.raises(SystemCheckError, match="JWT private key is not a valid RSA PEM key"):
        call_command("check")
    with pytest.raises(SystemExit) as exc_info:
        call_command("preflight", "--skip-dependencies")
    assert exc_info.value.code == 1
    assert "auth: cannot start" in capsys.readouterr().err


def test_missing_key_without_debug_is_a_system_check_error(settings):
    settings.DEBUG = False
    settings.JWT_PRIVATE_KEY_FILE = ""

    [error] = check_jwt_keys(None)

    assert error.id == "accounts.E002"
    assert "JWT_PRIVATE_KEY" in error.msg


def test_unreadable_key_file_is_a_system_check_error(settings, tmp_path):
    settings.JWT_PRIVATE_KEY_FILE = str(tmp_path / "missing.pem")

    [error] = check_jwt_keys(None)

    assert error.id == "accounts.E002" and "cannot be read" in error.msg
