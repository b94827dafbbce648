"""A small OpenID Connect identity provider for the sign-in test (tests/it/serve.rs): the
authorization code flow with PKCE, as real issuers run it. It signs ID tokens RS256 with
the key it is given (made by openssl), and signs everyone in as the user the test names.

  oidc_idp.py PORT KEY.pem CLIENT_ID CLIENT_SECRET EMAIL GROUP

/.well-known/openid-configuration, /jwks.json, /authorize (redirects straight back with a
code: the user "logged in"), /token (checks the client, the redirect URI and the PKCE
verifier; a code works once).
"""

import base64
import hashlib
import json
import secrets
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

port, key_path, client_id, client_secret, email, group = sys.argv[1:7]
issuer = f"http://127.0.0.1:{port}"
key = serialization.load_pem_private_key(open(key_path, "rb").read(), password=None)
codes = {}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def number(n: int) -> str:
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def jwt(claims: dict) -> str:
    header = b64(json.dumps({"alg": "RS256", "kid": "r1", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = key.sign(f"{header}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{body}.{b64(signature)}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/.well-known/openid-configuration":
            return self.answer(200, {
                "issuer": issuer,
                "jwks_uri": f"{issuer}/jwks.json",
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
            })
        if url.path == "/jwks.json":
            public = key.public_key().public_numbers()
            return self.answer(200, {"keys": [{"kty": "RSA", "kid": "r1", "alg": "RS256", "n": number(public.n), "e": number(public.e)}]})
        if url.path == "/authorize":
            ok = (
                query.get("response_type") == "code"
                and query.get("client_id") == client_id
                and query.get("code_challenge_method") == "S256"
                and "openid" in query.get("scope", "").split()
                and all(query.get(k) for k in ("redirect_uri", "state", "nonce", "code_challenge"))
            )
            if not ok:
                return self.answer(400, {"error": "invalid_request", "query": query})
            code = secrets.token_urlsafe(16)
            codes[code] = query
            back = query["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": query["state"]})
            self.send_response(302)
            self.send_header("Location", back)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        return self.answer(404, {"error": "not_found"})

    def do_POST(self):
        if self.path != "/token":
            return self.answer(404, {"error": "not_found"})
        length = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        asked = codes.pop(form.get("code", ""), None)
        if asked is None:
            return self.answer(400, {"error": "invalid_grant"})
        challenge = b64(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if (
            form.get("grant_type") != "authorization_code"
            or form.get("client_id") != client_id
            or form.get("client_secret") != client_secret
            or form.get("redirect_uri") != asked["redirect_uri"]
            or challenge != asked["code_challenge"]
        ):
            return self.answer(400, {"error": "invalid_grant"})
        now = int(time.time())
        claims = {"iss": issuer, "aud": client_id, "sub": "u-7", "email": email, "groups": [group],
                  "nonce": asked["nonce"], "iat": now, "exp": now + 300}
        return self.answer(200, {"id_token": jwt(claims), "access_token": secrets.token_urlsafe(16), "token_type": "Bearer"})


ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
