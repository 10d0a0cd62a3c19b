#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz_jwt and fuzz_jwks targets.

    python3 tests/fuzz/make-jwt-seeds.py   (needs python3-cryptography)

Run it only to change the seeds; its output is committed
(tests/fuzz/corpus/jwt/, tests/fuzz/corpus/jwks/). Tokens are signed with the
fuzzing keys of tests/fuzz/fuzz_keys.h: hs1 (RFC 7515 Appendix A.1) and ec1,
whose private part is below. These keys are public: never use them elsewhere.
RSA, P-384, P-521 and Ed25519 keys in the JWKS seeds are made afresh on each
run (only their public parts are written)."""
import base64
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = 1700000000
ISS = "https://auth.shop.example"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def j(o):
    return json.dumps(o, separators=(",", ":")).encode()


HS1 = unb64("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
EC1_D = int.from_bytes(unb64("aemkiIb7WskGIxmdt6aRzu-15RyNXhBL6EZRsrDQkkI"), "big")
EC1 = ec.derive_private_key(EC1_D, ec.SECP256R1())
EC1_X = "ZmeiqOCBauaCFzIf4RkDqOgZs6kzB-gJiIBrp9HLWgs"
assert b64(EC1.public_key().public_numbers().x.to_bytes(32, "big")) == EC1_X


def hs(si):
    h = hmac.HMAC(HS1, hashes.SHA256())
    h.update(si)
    return h.finalize()


def es(si):
    r, s = decode_dss_signature(EC1.sign(si, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def token(hdr, claims, signer=hs):
    si = (b64(hdr if isinstance(hdr, bytes) else j(hdr)) + "." +
          b64(claims if isinstance(claims, bytes) else j(claims))).encode()
    return si + b"." + (b64(signer(si)).encode() if signer else b"")


def claims(**kw):
    c = {"iss": ISS, "aud": "shop-mobile", "sub": "u-1001", "roles": ["customer"],
         "iat": NOW - 60, "exp": NOW + 3600}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def jwt_seeds():
    hk = {"alg": "HS256", "typ": "JWT", "kid": "hs1"}
    ek = {"alg": "ES256", "kid": "ec1"}
    raw = {
        "hs256-kid": token(hk, claims()),
        "hs256-nokid-roles-string": token({"alg": "HS256"},
                                          claims(roles="customer support", nbf=NOW - 5)),
        "es256-kid": token(ek, claims(aud=["shop-web", "other"]), es),
        "es256-nokid-int-sub": token({"alg": "ES256"}, claims(sub=4242), es),
        "hs256-expired": token(hk, claims(exp=NOW - 3600)),
        "alg-none": token({"alg": "none"}, claims(), None),
        "crit": token({"alg": "HS256", "kid": "hs1", "crit": ["exp"]}, claims()),
        "unknown-kid": token({"alg": "HS256", "kid": "nope"}, claims()),
        "hs384-refused": token({"alg": "HS384", "kid": "hs1"}, claims()),
        "five-parts": token(hk, claims()) + b".e30.e30",
        # RFC 7515 Appendix A.1: CR LF inside the JSON, no sub (bad_claim)
        "rfc7515-a1": b"eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "es256-kid-on-hs": token({"alg": "ES256", "kid": "hs1"}, claims(), es),
    }
    for name, t in raw.items():
        write("jwt", "0-" + name, b"0" + t)
    pairs = {
        "full": (hk, claims(nbf=NOW - 1, jti="j-1")),
        "dup-exp": (b'{"alg":"HS256","kid":"hs1"}',
                    b'{"sub":"u-1","exp":1700003600,"exp":1,"iss":"' + ISS.encode() +
                    b'","aud":"shop-mobile"}'),
        "float-times": (hk, claims(exp=1700000000.5, iat=1699999999.25, nbf=1e3)),
        "roles-null": (hk, claims(roles=None, sub="user with spaces")),
        "unicode-sub": (hk, claims(sub="\u00e9l\u00e8ve-\u2603")),
        "deep": ({"alg": "HS256", "x": [[[[{"a": [1, 2, {"b": None}]}]]]]},
                 claims(extra={"k": [True, False, -0.0, 1e-7]})),
    }
    for name, (h, c) in pairs.items():
        write("jwt", "1-" + name, b"1" + (h if isinstance(h, bytes) else j(h)) + b"\n" +
              (c if isinstance(c, bytes) else j(c)))
    encoded = {
        "hs256": token(hk, claims(), None)[:-1],
        "padding": token(hk, claims(), None)[:-1] + b"==",
    }
    for name, si in encoded.items():
        write("jwt", "2-" + name, b"2" + si)


def jwk_pub(key, **extra):
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        nums = key.public_key().public_numbers()
    if isinstance(key, rsa.RSAPrivateKey):
        n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
        k = {"kty": "RSA", "n": b64(n), "e": b64(nums.e.to_bytes(3, "big"))}
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        crv = {256: "P-256", 384: "P-384", 521: "P-521"}[key.curve.key_size]
        k = {"kty": "EC", "crv": crv, "x": b64(nums.x.to_bytes(size, "big")),
             "y": b64(nums.y.to_bytes(size, "big"))}
    else:
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        k = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
    k.update(extra)
    return k


def jwks_seeds():
    hs1 = {"kty": "oct", "kid": "hs1", "alg": "HS256", "k": b64(HS1)}
    ec1 = jwk_pub(EC1, kid="ec1", use="sig")
    rsa1 = jwk_pub(rsa.generate_private_key(65537, 2048), kid="rsa1", alg="RS256")
    p384 = jwk_pub(ec.generate_private_key(ec.SECP384R1()), kid="ec384")
    p521 = jwk_pub(ec.generate_private_key(ec.SECP521R1()), kid="ec521", alg="ES512")
    ed = jwk_pub(ed25519.Ed25519PrivateKey.generate(), kid="ed1")
    sets = {
        "fuzz-keys": [hs1, ec1],
        "every-kty": [hs1, ec1, rsa1, p384, p521, ed],
        "rsa-ps": [dict(rsa1, alg="PS256", kid="rsa-ps")],
        "enc-skipped": [dict(rsa1, use="enc"), dict(ec1, key_ops=["verify"])],
        "only-enc": [dict(hs1, use="enc")],
        "dup-kid": [ec1, dict(ec1)],
        "alg-none": [dict(hs1, alg="none")],
        "alg-mismatch": [dict(ec1, alg="RS256")],
        "short-oct": [{"kty": "oct", "k": b64(b"short")}],
        "point-off-curve": [dict(ec1, y=b64(b"\x01" * 32))],
        "secp256k1": [{"kty": "EC", "crv": "secp256k1", "x": ec1["x"], "y": ec1["y"]}],
        "kid-control": [dict(hs1, kid="a\nb\u0000c")],
    }
    for name, keys in sets.items():
        write("jwks", name, j({"keys": keys}))
    write("jwks", "not-an-object", b'[{"keys":[]}]')
    write("jwks", "dup-member", b'{"keys":[],"keys":[' + j(hs1) + b"]}")


if __name__ == "__main__":
    jwt_seeds()
    jwks_seeds()
    sys.exit(0)
