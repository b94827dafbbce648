//! A Sigstore of the test's own, for the keyless failure matrix: a Fulcio-like CA, a CT log
//! and a Rekor-like transparency log, each with a fresh P-256 key. It mints what keyless
//! signing leaves behind (a certificate with an embedded SCT over its precertificate, a
//! log entry with its signed entry timestamp, an inclusion proof and a signed checkpoint)
//! and the `trusted_root.json` that trusts it, so each failure can be made on purpose.
//! The formats are checked on real public-good material elsewhere (tests/it/keyless.rs).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use modelark::sign::PrivateKey;
use modelark::sign::x509::SpkiKey;
use sha2::Digest as _;

/// One DER element.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = content.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes: Vec<u8> = length
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn oid(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
    let mut out = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &arc in &arcs[2..] {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut rest = arc >> 7;
        while rest > 0 {
            groups.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        out.extend(groups.into_iter().rev());
    }
    tlv(0x06, &out)
}

fn utc_time(seconds: u64) -> Vec<u8> {
    let t = time::OffsetDateTime::from_unix_timestamp(seconds as i64).unwrap();
    let text = format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        t.year() % 100,
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    tlv(0x17, text.as_bytes())
}

fn name(common_name: &str) -> Vec<u8> {
    seq(&[tlv(
        0x31,
        &seq(&[oid("2.5.4.3"), tlv(0x0c, common_name.as_bytes())]),
    )])
}

fn extension(id: &str, critical: bool, value: &[u8]) -> Vec<u8> {
    let mut parts = vec![oid(id)];
    if critical {
        parts.push(vec![0x01, 0x01, 0xff]);
    }
    parts.push(tlv(0x04, value));
    seq(&parts)
}

const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";

/// A P-256 key with its SubjectPublicKeyInfo.
pub struct Key {
    pub private: PrivateKey,
    pub spki: Vec<u8>,
}

impl Key {
    pub fn new() -> Key {
        let private = PrivateKey::generate().unwrap();
        let pem = private.public_key().to_pem().unwrap();
        let spki = SpkiKey::from_pem(&pem).unwrap().der().to_vec();
        Key { private, spki }
    }

    /// The SHA-256 of its SPKI: how logs name their key.
    pub fn id(&self) -> Vec<u8> {
        sha2::Sha256::digest(&self.spki).to_vec()
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.private.sign(message)
    }
}

/// What the signing certificate should look like.
pub struct Leaf<'a> {
    pub identity: String,
    pub issuer: String,
    pub not_before: u64,
    pub not_after: u64,
    /// The CT log that signs its SCT; `None` for a certificate without one.
    pub sct_by: Option<&'a Key>,
}

/// A tree of log entries with ours among them.
const TREE_SIZE: usize = 7;
const OUR_INDEX: usize = 5;

fn leaf_hash(data: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest([&[0u8][..], data].concat()).to_vec()
}

fn node_hash(left: &[u8], right: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest([&[1u8][..], left, right].concat()).to_vec()
}

/// RFC 6962 2.1: the root of `leaves` and the audit path of leaf `m`, bottom up.
fn merkle(leaves: &[Vec<u8>], m: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    if leaves.len() == 1 {
        return (leaves[0].clone(), Vec::new());
    }
    let mut k = 1;
    while k * 2 < leaves.len() {
        k *= 2;
    }
    let (left, right) = leaves.split_at(k);
    let (left_root, left_path) = merkle(left, m.min(k - 1));
    let (right_root, right_path) = merkle(right, m.saturating_sub(k));
    let root = node_hash(&left_root, &right_root);
    let path = if m < k {
        [left_path, vec![right_root]].concat()
    } else {
        [right_path, vec![left_root]].concat()
    };
    (root, path)
}

/// The test's Sigstore: its CA, CT log and transparency log.
pub struct Sigstore {
    pub ca: Key,
    pub ca_der: Vec<u8>,
    pub ct: Key,
    pub log: Key,
}

/// A minted log entry in both forms it travels in.
pub struct Logged {
    /// A bundle's `tlogEntries[0]`.
    pub entry: serde_json::Value,
    /// cosign's `dev.sigstore.cosign/bundle` annotation.
    pub annotation: serde_json::Value,
}

impl Sigstore {
    /// A CA valid from a day ago for ten years.
    pub fn new() -> Sigstore {
        let ca = Key::new();
        let now = now();
        let tbs = seq(&[
            tlv(0xa0, &tlv(0x02, &[2])),
            tlv(0x02, &[1]),
            seq(&[oid(ECDSA_SHA256)]),
            name("modelark test fulcio"),
            seq(&[utc_time(now - 86_400), utc_time(now + 10 * 365 * 86_400)]),
            name("modelark test fulcio"),
            ca.spki.clone(),
            tlv(
                0xa3,
                &seq(&[
                    extension("2.5.29.19", true, &seq(&[vec![0x01, 0x01, 0xff]])),
                    extension("2.5.29.15", true, &[0x03, 0x02, 0x01, 0x06]),
                ]),
            ),
        ]);
        let ca_der = signed_certificate(&tbs, &ca);
        Sigstore {
            ca,
            ca_der,
            ct: Key::new(),
            log: Key::new(),
        }
    }

    /// A `trusted_root.json` trusting this CA, CT log and transparency log.
    pub fn trusted_root(&self) -> serde_json::Value {
        let start = time::OffsetDateTime::from_unix_timestamp((now() - 86_400) as i64)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let key = |k: &Key| {
            serde_json::json!({
                "baseUrl": "https://log.test",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": B64.encode(&k.spki),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": start},
                },
                "logId": {"keyId": B64.encode(k.id())},
            })
        };
        serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [key(&self.log)],
            "ctlogs": [key(&self.ct)],
            "certificateAuthorities": [{
                "subject": {"organization": "modelark", "commonName": "modelark test fulcio"},
                "uri": "https://fulcio.test",
                "certChain": {"certificates": [{"rawBytes": B64.encode(&self.ca_der)}]},
                "validFor": {"start": start},
            }],
            "timestampAuthorities": [],
        })
    }

    /// A signing certificate for `key` as Fulcio issues it: the identity in the SAN, the
    /// OIDC issuer in Fulcio's extension, code signing, and an embedded SCT over the
    /// precertificate (the same TBS without the SCT list).
    pub fn certificate(&self, key: &Key, leaf: &Leaf<'_>) -> Vec<u8> {
        let mut extensions = vec![
            extension("2.5.29.15", true, &[0x03, 0x02, 0x07, 0x80]),
            extension("2.5.29.37", false, &seq(&[oid("1.3.6.1.5.5.7.3.3")])),
            extension(
                "2.5.29.17",
                true,
                &seq(&[tlv(0x81, leaf.identity.as_bytes())]),
            ),
            extension(
                "1.3.6.1.4.1.57264.1.8",
                false,
                &tlv(0x0c, leaf.issuer.as_bytes()),
            ),
        ];
        let tbs = |extensions: &[Vec<u8>]| {
            seq(&[
                tlv(0xa0, &tlv(0x02, &[2])),
                tlv(0x02, &[0x42, 0x17]),
                seq(&[oid(ECDSA_SHA256)]),
                name("modelark test fulcio"),
                seq(&[utc_time(leaf.not_before), utc_time(leaf.not_after)]),
                seq(&[]),
                key.spki.clone(),
                tlv(0xa3, &seq(extensions)),
            ])
        };
        if let Some(ct) = leaf.sct_by {
            let list = self.sct_list(ct, &tbs(&extensions), leaf.not_before * 1000);
            extensions.push(extension(SCT_LIST, false, &tlv(0x04, &list)));
        }
        signed_certificate(&tbs(&extensions), &self.ca)
    }

    /// RFC 6962 3.2: one SCT by `ct` over the precertificate `tbs`, as a SCT list.
    fn sct_list(&self, ct: &Key, tbs: &[u8], millis: u64) -> Vec<u8> {
        let issuer_key_hash = sha2::Sha256::digest(&self.ca.spki);
        let mut signed = vec![0u8, 0u8];
        signed.extend(millis.to_be_bytes());
        signed.extend([0, 1]);
        signed.extend(issuer_key_hash);
        signed.extend(&(tbs.len() as u32).to_be_bytes()[1..]);
        signed.extend(tbs);
        signed.extend([0, 0]);
        let signature = ct.sign(&signed);
        let mut sct = vec![0u8];
        sct.extend(ct.id());
        sct.extend(millis.to_be_bytes());
        sct.extend([0, 0]);
        sct.extend([4, 3]);
        sct.extend((signature.len() as u16).to_be_bytes());
        sct.extend(signature);
        let mut entry = (sct.len() as u16).to_be_bytes().to_vec();
        entry.extend(sct);
        let mut list = (entry.len() as u16).to_be_bytes().to_vec();
        list.extend(entry);
        list
    }

    /// Logs `body` at `integrated_time` in a tree of seven entries, signed by `log`.
    pub fn log_entry(&self, log: &Key, body: &serde_json::Value, integrated_time: u64) -> Logged {
        let body = B64.encode(serde_json::to_vec(body).unwrap());
        let log_id = log.id();
        let index = 1000 + OUR_INDEX as u64;
        let set_payload = serde_json::json!({
            "body": body,
            "integratedTime": integrated_time,
            "logID": hex::encode(&log_id),
            "logIndex": index,
        });
        let set = B64.encode(log.sign(&serde_json::to_vec(&set_payload).unwrap()));
        let leaves: Vec<Vec<u8>> = (0..TREE_SIZE)
            .map(|i| {
                if i == OUR_INDEX {
                    leaf_hash(&B64.decode(&body).unwrap())
                } else {
                    leaf_hash(format!("another entry {i}").as_bytes())
                }
            })
            .collect();
        let (root, path) = merkle(&leaves, OUR_INDEX);
        let origin = "log.test - 4242";
        let note = format!("{origin}\n{TREE_SIZE}\n{}\n", B64.encode(&root));
        let mut signature = log_id[..4].to_vec();
        signature.extend(log.sign(note.as_bytes()));
        let checkpoint = format!("{note}\n\u{2014} {origin} {}\n", B64.encode(signature));
        let parsed: serde_json::Value =
            serde_json::from_slice(&B64.decode(&body).unwrap()).unwrap();
        Logged {
            entry: serde_json::json!({
                "logIndex": index.to_string(),
                "logId": {"keyId": B64.encode(&log_id)},
                "kindVersion": {"kind": parsed["kind"], "version": parsed["apiVersion"]},
                "integratedTime": integrated_time.to_string(),
                "inclusionPromise": {"signedEntryTimestamp": set},
                "inclusionProof": {
                    "logIndex": OUR_INDEX.to_string(),
                    "rootHash": B64.encode(&root),
                    "treeSize": TREE_SIZE.to_string(),
                    "hashes": path.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
                    "checkpoint": {"envelope": checkpoint},
                },
                "canonicalizedBody": body,
            }),
            annotation: serde_json::json!({
                "SignedEntryTimestamp": set,
                "Payload": {
                    "body": body,
                    "integratedTime": integrated_time,
                    "logIndex": index,
                    "logID": hex::encode(&log_id),
                },
            }),
        }
    }
}

fn signed_certificate(tbs: &[u8], issuer: &Key) -> Vec<u8> {
    let signature = issuer.sign(tbs);
    let mut bits = vec![0u8];
    bits.extend(signature);
    seq(&[tbs.to_vec(), seq(&[oid(ECDSA_SHA256)]), tlv(0x03, &bits)])
}

/// A `hashedrekord` v0.0.1 body: what Rekor records for a signature over a message.
pub fn hashedrekord(
    message_sha256: &[u8],
    signature: &[u8],
    certificate: &[u8],
) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": hex::encode(message_sha256)}},
            "signature": {
                "content": B64.encode(signature),
                "publicKey": {"content": B64.encode(pem(certificate))},
            },
        },
    })
}

/// A certificate as PEM.
pub fn pem(der: &[u8]) -> String {
    let body = B64.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
