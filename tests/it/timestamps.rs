//! Trusted timestamps: `--timestamp-server` against a real RFC 3161 authority (`openssl ts
//! -reply` behind a small HTTP handler), stored where cosign keeps them, and a policy that
//! trusts the authority: required, refused from an untrusted one, a backdated claim caught,
//! decisions ordered by the stamped time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::{Env, Raw, Registry, attachment_tag, issue, openssl, random_model, which};

/// A time-stamping authority: a test CA, a TSA certificate with the critical timeStamping
/// EKU, and `openssl ts -reply` answering POSTed queries on 127.0.0.1.
struct Tsa {
    url: String,
    dir: PathBuf,
}

impl Tsa {
    fn start(dir: PathBuf, name: &str) -> Tsa {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("ca.ext"),
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("tsa.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let subject = format!("/CN={name} root");
        openssl(
            &dir,
            &[
                &["req", "-x509"][..],
                &ec,
                &["-subj", &subject, "-days", "2"],
            ]
            .concat()
            .into_iter()
            .chain(["-addext", "basicConstraints=critical,CA:TRUE"])
            .chain(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .chain(["-keyout", "ca.key", "-out", "ca.pem"])
            .collect::<Vec<_>>(),
        );
        let subject = format!("/CN={name}");
        openssl(
            &dir,
            &[
                &["req"][..],
                &ec,
                &["-subj", &subject, "-keyout", "tsa.key"],
            ]
            .concat()
            .into_iter()
            .chain(["-out", "tsa.csr"])
            .collect::<Vec<_>>(),
        );
        issue(&dir, "tsa.csr", "tsa.ext", "tsa.pem");
        let chain = [
            std::fs::read_to_string(dir.join("tsa.pem")).unwrap(),
            std::fs::read_to_string(dir.join("ca.pem")).unwrap(),
        ]
        .concat();
        std::fs::write(dir.join("chain.pem"), chain).unwrap();
        std::fs::write(dir.join("serial"), "01\n").unwrap();
        std::fs::write(
            dir.join("tsa.cnf"),
            "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\nserial = ./serial\n\
             signer_cert = ./tsa.pem\ncerts = ./ca.pem\nsigner_key = ./tsa.key\n\
             signer_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\n\
             accuracy = secs:1\nordering = no\ntsa_name = no\ness_cert_id_chain = no\n\
             ess_cert_id_alg = sha256\n",
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/tsr", listener.local_addr().unwrap());
        let served = dir.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let _ = answer(&served, stream, n);
            }
        });
        Tsa { url, dir }
    }

    fn chain(&self) -> String {
        self.dir.join("chain.pem").display().to_string()
    }
}

/// One request: the query's bytes to `openssl ts -reply`, its response back.
fn answer(dir: &Path, stream: std::net::TcpStream, n: usize) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut query = vec![0; length];
    reader.read_exact(&mut query)?;
    let (q, r) = (format!("q{n}.tsq"), format!("r{n}.tsr"));
    std::fs::write(dir.join(&q), &query)?;
    let status = Command::new(which("openssl"))
        .args([
            "ts",
            "-reply",
            "-config",
            "tsa.cnf",
            "-queryfile",
            &q,
            "-out",
            &r,
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let mut stream = stream;
    if !status.success() {
        return stream.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let body = std::fs::read(dir.join(&r))?;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

#[test]
fn trusted_timestamps_decide_when_a_decision_was_made() {
    let registry = Registry::start();
    let env = Env::new();
    let host = registry.host();
    let tsa = Tsa::start(env.path("tsa"), "modelark test TSA");
    let rogue = Tsa::start(env.path("rogue"), "rogue TSA");
    let (key, public) = env.keypair("alice");
    let model = random_model(&env, "m", 4096);
    let reference = format!("{host}/ml/m:1.0.0");
    let out = env.ok(&["push", model.to_str().unwrap(), &reference, "--plain-http"]);
    let digest = crate::harness::digest_of(&out);

    // A signature stamped where cosign keeps it, over the raw signature: openssl itself
    // verifies the stored token against the TSA's CA.
    let signed = env.ok(&[
        "sign",
        &reference,
        "--key",
        &key,
        "--plain-http",
        "--timestamp-server",
        &tsa.url,
    ]);
    assert!(signed.contains("timestamped at"), "{signed}");
    let raw = Raw::new(&host, "ml/m");
    let manifest = raw.manifest(&attachment_tag(&digest, ".sig"));
    let layer = &manifest.layers[0];
    let annotation: serde_json::Value =
        serde_json::from_str(&layer.annotations["dev.sigstore.cosign/rfc3161timestamp"]).unwrap();
    let token = base64_decode(annotation["SignedRFC3161Timestamp"].as_str().unwrap());
    let signature = base64_decode(&layer.annotations["dev.cosignproject.cosign/signature"]);
    std::fs::write(env.path("token.tsr"), &token).unwrap();
    std::fs::write(env.path("sig.bin"), &signature).unwrap();
    let dir = env.path("");
    let ca = tsa.dir.join("ca.pem").display().to_string();
    let untrusted = tsa.dir.join("tsa.pem").display().to_string();
    openssl(
        &dir,
        &[
            "ts",
            "-verify",
            "-data",
            "sig.bin",
            "-in",
            "token.tsr",
            "-CAfile",
            &ca,
            "-untrusted",
            &untrusted,
        ],
    );

    // The policy trusts the TSA and requires timestamps; production needs alice's approval.
    let policy = env.path("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "keys:\n  alice: {public}\ntimestampAuthorities:\n  corp: {}\nrequireTimestamp: true\n\
             rules:\n  - scope: \"**\"\n    signatures: {{threshold: 1}}\n    \
             attestations:\n      - {{type: approval, where: {{environment: production, decision: approved}}}}\n",
            tsa.chain()
        ),
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let verify = || env.run(&["verify", &reference, "--policy", policy, "--plain-http"]);

    // An approval without a timestamp does not count.
    let approve = |extra: &[&str]| {
        let mut args = vec![
            "approve",
            &reference,
            "--env",
            "production",
            "--key",
            &key,
            "--plain-http",
        ];
        args.extend_from_slice(extra);
        env.ok(&args)
    };
    // The policy fails, and says why the latest record does not count.
    let refused = |why: &str| {
        let (code, stdout, stderr) = verify();
        assert_ne!(code, 0, "{stdout}");
        assert!(stdout.contains(why), "{why:?} not in {stdout}{stderr}");
    };
    // An approval made by hand with its own `time`, stamped by the trusted authority.
    let predicate = env.path("decision.json");
    let attest_decision = |decision: &str, time: &str| {
        std::fs::write(
            &predicate,
            format!(
                r#"{{"environment":"production","decision":"{decision}","approver":"alice","time":"{time}"}}"#
            ),
        )
        .unwrap();
        let out = env.ok(&[
            "attest",
            &reference,
            "--type",
            "approval",
            "--predicate",
            predicate.to_str().unwrap(),
            "--key",
            &key,
            "--plain-http",
            "--timestamp-server",
            &tsa.url,
        ]);
        assert!(out.contains("timestamped at"), "{out}");
    };
    approve(&[]);
    refused("requires one by a trusted time-stamping authority");

    // One stamped by an authority the policy does not trust is refused.
    approve(&["--timestamp-server", &rogue.url]);
    refused("its RFC 3161 timestamp does not count");
    // verify-attestation takes verify's timestamp flags: of the two approvals, only the
    // one stamped by the authority named counts when a timestamp is required.
    let verify_approvals = |extra: &[&str]| {
        let base = [
            "verify-attestation",
            &reference,
            "--key",
            &public,
            "--type",
            "approval",
            "--plain-http",
        ];
        env.run(&[&base[..], extra].concat())
    };
    let stamped_by = |chain: &str| {
        verify_approvals(&[
            "--timestamp-certificate-chain",
            chain,
            "--require-timestamp",
        ])
    };
    let (code, stdout, stderr) = stamped_by(&tsa.chain());
    assert_eq!(
        code, 1,
        "no approval is stamped by the TSA: {stdout}{stderr}"
    );
    let (code, stdout, stderr) = stamped_by(&rogue.chain());
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout.matches("  ok    by ").count(), 1, "{stdout}");

    // A backdated claim is caught even with a genuine timestamp.
    attest_decision("approved", "2026-01-01T00:00:00Z");
    refused("it claims it was made at 2026-01-01T00:00:00Z");

    // A stamped approval counts, and says who vouches for its time.
    approve(&["--timestamp-server", &tsa.url]);
    let (code, stdout, stderr) = verify();
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("timestamped at ") && stdout.contains("by CN=modelark test TSA"),
        "{stdout}"
    );

    // Bundles keep theirs in timestampVerificationData, over the envelope's signature; a
    // stamped bundle signature and a stamped model-signing one count under the policy too.
    for format in ["bundle", "model-signing"] {
        env.ok(&[
            "sign",
            &reference,
            "--key",
            &key,
            "--plain-http",
            "--format",
            format,
            "--timestamp-server",
            &tsa.url,
        ]);
    }
    let report = env.json(&["verify", &reference, "--policy", policy, "--plain-http"]);
    let signatures = report["evidence"]["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 3, "{report}");
    for signature in signatures {
        assert!(signature["problem"].is_null(), "{signature}");
        assert_eq!(
            signature["timestamp"]["authority"], "CN=modelark test TSA",
            "{signature}"
        );
    }

    // The latest decision is the latest by the timestamp: a rejection that claims to be
    // five minutes in the future (inside the tolerance) made before a new approval loses
    // to it, though its claim is later.
    let future = time::OffsetDateTime::now_utc() + time::Duration::minutes(5);
    let future = future
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    attest_decision("rejected", &future);
    let (code, stdout, _) = verify();
    assert_ne!(code, 0, "the rejection is the latest decision: {stdout}");
    // Timestamps have a one-second resolution: keep the decisions apart.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    approve(&["--timestamp-server", &tsa.url]);
    let (code, stdout, stderr) = verify();
    assert_eq!(code, 0, "the stamped approval came later: {stdout}{stderr}");

    // Without the policy's authority, the claims alone order them: the rejection wins.
    let (code, stdout, _) = verify_approvals(&[]);
    assert_eq!(code, 0, "{stdout}");
    let claims_only = env.path("claims.yaml");
    std::fs::write(
        &claims_only,
        format!(
            "keys:\n  alice: {public}\nrules:\n  - scope: \"**\"\n    \
             attestations:\n      - {{type: approval, where: {{environment: production, decision: approved}}}}\n"
        ),
    )
    .unwrap();
    let (code, stdout, _) = env.run(&[
        "verify",
        &reference,
        "--policy",
        claims_only.to_str().unwrap(),
        "--plain-http",
    ]);
    assert_ne!(
        code, 0,
        "by claims, the forward-dated rejection is latest: {stdout}"
    );
}
