//! OpenID Connect bearer tokens: a JWT signed by a key of the issuer's JWKS (RS256 or
//! ES256, nothing else: `none` and HMAC are refused), with the configured issuer and
//! audience, unexpired (with clock-skew leeway). RS256 verifies with ring, which the TLS
//! stack already builds; ES256 with RustCrypto's p256, as the rest of modelark.

use base64::Engine as _;
use serde::Deserialize;

use super::auth::Subject;

/// The `auth.oidc` configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OidcConfig {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The `aud` tokens must carry (or list).
    pub audience: String,
    /// The issuer's JWKS: a file, or an `https://` (or `http://`) URL fetched at start and
    /// every hour; absent, the `jwks_uri` of `ISSUER/.well-known/openid-configuration`.
    #[serde(default)]
    pub jwks: Option<String>,
    /// The claim holding the user's groups (a list of strings).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway: u64,
}

fn default_groups_claim() -> String {
    "groups".into()
}

fn default_leeway() -> u64 {
    60
}

enum Key {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256(p256::ecdsa::VerifyingKey),
}

/// A loaded issuer: its keys and what its tokens must say.
pub struct Oidc {
    config: OidcConfig,
    keys: std::sync::RwLock<Vec<(Option<String>, Key)>>,
}

/// Where the keys come from.
enum Source {
    File(std::path::PathBuf),
    Url(String),
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

fn b64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| "not base64url".to_owned())
}

impl Oidc {
    /// Loads the issuer's keys (from the file, the URL, or the issuer's discovery document).
    pub async fn load(config: &OidcConfig) -> Result<Oidc, String> {
        let text = fetch(&source(config).await?).await?;
        Ok(Oidc {
            config: config.clone(),
            keys: std::sync::RwLock::new(parse(&text)?),
        })
    }

    /// Fetches the keys again (an issuer rotates them); on failure the old ones stay.
    pub async fn refresh(&self) -> Result<(), String> {
        let text = fetch(&source(&self.config).await?).await?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = parse(&text)?;
        Ok(())
    }

    /// Whether the keys come from the network (and are worth refreshing).
    pub fn remote(&self) -> bool {
        !self
            .config
            .jwks
            .as_deref()
            .is_some_and(|j| !j.starts_with("http://") && !j.starts_with("https://"))
    }
}

async fn source(config: &OidcConfig) -> Result<Source, String> {
    match config.jwks.as_deref() {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            Ok(Source::Url(url.to_owned()))
        }
        Some(path) => Ok(Source::File(path.into())),
        None => {
            let discovery = format!(
                "{}/.well-known/openid-configuration",
                config.issuer.trim_end_matches('/')
            );
            let text = fetch(&Source::Url(discovery.clone())).await?;
            let document: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{discovery}: {e}"))?;
            let uri = document["jwks_uri"]
                .as_str()
                .ok_or_else(|| format!("{discovery} names no jwks_uri"))?;
            Ok(Source::Url(uri.to_owned()))
        }
    }
}

async fn fetch(source: &Source) -> Result<String, String> {
    match source {
        Source::File(path) => fs_err::read_to_string(path).map_err(|e| e.to_string()),
        Source::Url(url) => {
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .map_err(|e| e.to_string())?;
            let response = client
                .get(url)
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            if !response.status().is_success() {
                return Err(format!("{url}: {}", response.status()));
            }
            response.text().await.map_err(|e| format!("{url}: {e}"))
        }
    }
}

/// The RSA and P-256 keys of a JWKS document; other keys are skipped, none is an error.
fn parse(text: &str) -> Result<Vec<(Option<String>, Key)>, String> {
    let jwks: Jwks = serde_json::from_str(text).map_err(|e| format!("the JWKS: {e}"))?;
    let mut keys = Vec::new();
    for jwk in jwks.keys {
        let key = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("RSA", _) => {
                let (Some(n), Some(e)) = (&jwk.n, &jwk.e) else {
                    continue;
                };
                Key::Rsa {
                    n: b64(n)?,
                    e: b64(e)?,
                }
            }
            ("EC", Some("P-256")) => {
                let (Some(x), Some(y)) = (&jwk.x, &jwk.y) else {
                    continue;
                };
                let mut point = vec![4u8];
                point.extend(b64(x)?);
                point.extend(b64(y)?);
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| "an EC key that is not a P-256 point".to_owned())?;
                Key::P256(key)
            }
            _ => continue,
        };
        keys.push((jwk.kid, key));
    }
    if keys.is_empty() {
        return Err("the JWKS has no RSA or P-256 key".into());
    }
    Ok(keys)
}

impl Oidc {
    /// The subject a JWT names, or why it is refused (never the token itself).
    pub fn subject(&self, token: &str, now: i64) -> Result<Subject, String> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a JWT".into());
        };
        let header: serde_json::Value =
            serde_json::from_slice(&b64(header)?).map_err(|_| "malformed header")?;
        let alg = header["alg"].as_str().unwrap_or_default();
        let kid = header["kid"].as_str();
        let signed = &token[..header_len(token)];
        let signature = b64(signature)?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let verified = keys
            .iter()
            .filter(|(id, _)| kid.is_none() || id.as_deref() == kid)
            .any(|(_, key)| verify(alg, key, signed.as_bytes(), &signature));
        if !matches!(alg, "RS256" | "ES256") {
            return Err(format!("algorithm {alg:?} is not accepted (RS256, ES256)"));
        }
        if !verified {
            return Err("the signature does not verify under the issuer's keys".into());
        }
        let claims: serde_json::Value =
            serde_json::from_slice(&b64(payload)?).map_err(|_| "malformed claims")?;
        if claims["iss"].as_str() != Some(self.config.issuer.as_str()) {
            return Err("wrong issuer".into());
        }
        let audience = &self.config.audience;
        let aud_ok = match &claims["aud"] {
            serde_json::Value::String(a) => a == audience,
            serde_json::Value::Array(list) => list.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !aud_ok {
            return Err("wrong audience".into());
        }
        let leeway = self.config.leeway as i64;
        let exp = claims["exp"].as_i64().ok_or("no expiry")?;
        if now > exp + leeway {
            return Err("expired".into());
        }
        if claims["nbf"].as_i64().is_some_and(|nbf| now + leeway < nbf) {
            return Err("not valid yet".into());
        }
        let name = claims["email"]
            .as_str()
            .or_else(|| claims["sub"].as_str())
            .ok_or("no subject")?
            .to_owned();
        let groups = claims[self.config.groups_claim.as_str()]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|g| g.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Subject::User { name, groups })
    }
}

/// The length of `header.payload`, the signed part.
fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn verify(alg: &str, key: &Key, message: &[u8], signature: &[u8]) -> bool {
    match (alg, key) {
        ("RS256", Key::Rsa { n, e }) => ring::signature::RsaPublicKeyComponents { n, e }
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                message,
                signature,
            )
            .is_ok(),
        ("ES256", Key::P256(key)) => {
            use p256::ecdsa::signature::Verifier as _;
            p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| key.verify(message, &s).is_ok())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer as _;

    fn encode(value: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn setup() -> (Oidc, p256::ecdsa::SigningKey, tempfile::TempDir) {
        let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
        let point = key.verifying_key().to_sec1_point(false);
        let dir = tempfile::tempdir().unwrap();
        let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
            "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(point.y().unwrap())}]});
        std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).unwrap();
        let config = OidcConfig {
            issuer: "https://login.example.com".into(),
            audience: "modelark".into(),
            jwks: Some(dir.path().join("jwks.json").display().to_string()),
            groups_claim: "groups".into(),
            leeway: 60,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        (runtime.block_on(Oidc::load(&config)).unwrap(), key, dir)
    }

    fn token(
        key: &p256::ecdsa::SigningKey,
        header: serde_json::Value,
        claims: serde_json::Value,
    ) -> String {
        let signed = format!("{}.{}", encode(&header), encode(&claims));
        let signature: p256::ecdsa::Signature = key.sign(signed.as_bytes());
        format!(
            "{signed}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    #[test]
    fn a_valid_token_names_its_subject_and_every_flaw_is_refused() {
        let (oidc, key, _dir) = setup();
        let header = serde_json::json!({"alg": "ES256", "kid": "k1"});
        let claims = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut c = serde_json::json!({"iss": "https://login.example.com", "aud": ["modelark"],
                "sub": "u-1", "email": "alice@example.com", "exp": 2000, "groups": ["ml-leads"]});
            f(&mut c);
            c
        };
        let good = token(&key, header.clone(), claims(&|_| {}));
        assert_eq!(
            oidc.subject(&good, 1000),
            Ok(Subject::User {
                name: "alice@example.com".into(),
                groups: vec!["ml-leads".into()]
            })
        );
        assert_eq!(
            oidc.subject(&good, 2050).map(|_| ()),
            Ok(()),
            "within the leeway"
        );
        let refused = |t: &str, now: i64| oidc.subject(t, now).unwrap_err();
        assert!(refused(&good, 2061).contains("expired"));
        assert!(
            refused(
                &token(
                    &key,
                    header.clone(),
                    claims(&|c| c["iss"] = "https://evil".into())
                ),
                1000
            )
            .contains("issuer")
        );
        assert!(
            refused(
                &token(&key, header.clone(), claims(&|c| c["aud"] = "other".into())),
                1000
            )
            .contains("audience")
        );
        let other = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
        assert!(
            refused(&token(&other, header.clone(), claims(&|_| {})), 1000).contains("signature")
        );
        let none = format!(
            "{}.{}.",
            encode(&serde_json::json!({"alg": "none"})),
            encode(&claims(&|_| {}))
        );
        assert!(refused(&none, 1000).contains("not accepted"));
        let hs = token(&key, serde_json::json!({"alg": "HS256"}), claims(&|_| {}));
        assert!(refused(&hs, 1000).contains("not accepted"));
        let mut tampered = good.clone();
        tampered.replace_range(
            good.find('.').unwrap() + 2..good.find('.').unwrap() + 3,
            "A",
        );
        assert!(oidc.subject(&tampered, 1000).is_err());
    }
}
