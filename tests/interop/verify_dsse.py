"""Verifies a DSSE envelope with PyPI securesystemslib, an implementation independent of
modelark. Usage: verify_dsse.py ENVELOPE.json PUBLIC.pem KEYID. Prints the verified
in-toto statement; exits 1 when the envelope does not verify under the key."""
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

envelope = Envelope.from_dict(json.load(open(sys.argv[1])))
public = load_pem_public_key(open(sys.argv[2], "rb").read())
key = SSlibKey.from_crypto(public, keyid=sys.argv[3], scheme="ecdsa-sha2-nistp256")
try:
    envelope.verify([key], 1)
except VerificationError as error:
    print(f"not verified: {error}", file=sys.stderr)
    sys.exit(1)
print(envelope.payload.decode())
