// Verifies a Sigstore bundle with npm @sigstore/verify (an implementation independent of
// modelark) under one public key, offline: no transparency log, no timestamp authority.
// Usage: node verify_bundle.js BUNDLE.json PUBLIC.pem. Prints the DSSE payload; exits 1 on failure.
const fs = require('fs');
const crypto = require('crypto');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');
const { bundleFromJSON } = require('@sigstore/bundle');

const [bundlePath, publicPath] = process.argv.slice(2);
const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
const key = crypto.createPublicKey(fs.readFileSync(publicPath));
const root = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [],
};
const trust = toTrustMaterial(root, () => ({ publicKey: key, validFor: () => true }));
const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
try {
  verifier.verify(toSignedEntity(bundle));
} catch (error) {
  console.error(`not verified: ${error.message}`);
  process.exit(1);
}
console.log(Buffer.from(bundle.content.dsseEnvelope.payload).toString());
