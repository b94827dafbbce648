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
    /// The service's client id at the issuer: with it, the web pages offer sign-in through
    /// the issuer's login page (authorization code flow with PKCE); ID tokens must name it
    /// as their audience.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The environment variable holding the client secret (a confidential client); absent,
    /// the service is a public client and PKCE alone protects the code.
    #[serde(default)]
    pub client_secret_env: Option<String>,
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
    /// The client secret for the code exchange, read from the environment at start.
    client_secret: Option<String>,
    /// The issuer's authorization and token endpoints, once discovered.
    endpoints: std::sync::RwLock<Option<(String, String)>>,
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
        let client_secret = match &config.client_secret_env {
            Some(name) => Some(std::env::var(name).map_err(|_| format!("{name} is not set"))?),
            None => None,
        };
        let text = fetch(&source(config).await?).await?;
        Ok(Oidc {
            config: config.clone(),
            keys: std::sync::RwLock::new(parse(&text)?),
            client_secret,
            endpoints: std::sync::RwLock::new(None),
        })
    }

    /// Whether browsers can sign in through the issuer (a client id is configured).
    pub fn browser(&self) -> bool {
        self.config.client_id.is_some()
    }

    /// The issuer, for the sign-in button.
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    /// The issuer's authorization and token endpoints, from its discovery document
    /// (fetched once).
    pub async fn endpoints(&self) -> Result<(String, String), String> {
        if let Some(found) = self
            .endpoints
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(found);
        }
        let url = discovery_url(&self.config);
        let document: serde_json::Value =
            serde_json::from_str(&fetch(&Source::Url(url.clone())).await?)
                .map_err(|e| format!("{url}: {e}"))?;
        let endpoint = |name: &str| {
            document[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{url} names no {name}"))
        };
        let found = (
            endpoint("authorization_endpoint")?,
            endpoint("token_endpoint")?,
        );
        *self.endpoints.write().unwrap_or_else(|e| e.into_inner()) = Some(found.clone());
        Ok(found)
    }

    /// The URL the browser is sent to: the issuer's login page for this client.
    pub async fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        challenge: &str,
    ) -> Result<String, String> {
        let (authorize, _) = self.endpoints().await?;
        let client_id = self.config.client_id.as_deref().ok_or("no clientId")?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", "openid email profile")
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        let separator = if authorize.contains('?') { '&' } else { '?' };
        Ok(format!("{authorize}{separator}{query}"))
    }

    /// Exchanges an authorization code for the user's subject: the token endpoint's ID
    /// token, checked as a bearer JWT is (signature, issuer, expiry), with the client id
    /// as its audience and the sign-in's `nonce`.
    pub async fn sign_in(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        nonce: &str,
        now: i64,
    ) -> Result<Subject, String> {
        let (_, token_endpoint) = self.endpoints().await?;
        let client_id = self.config.client_id.as_deref().ok_or("no clientId")?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret));
        }
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .post(&token_endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("{token_endpoint}: {e}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("{token_endpoint}: {e}"))?;
        let body: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{token_endpoint} answered no JSON: {e}"))?;
        if !status.is_success() {
            let error = body["error"].as_str().unwrap_or("no error code");
            return Err(format!(
                "the token endpoint refused the code ({status}: {error})"
            ));
        }
        let id_token = body["id_token"]
            .as_str()
            .ok_or("the token endpoint sent no id_token")?;
        let (subject, claims) = self.check(id_token, now, client_id)?;
        if claims["nonce"].as_str() != Some(nonce) {
            return Err("the ID token's nonce is not this sign-in's".into());
        }
        Ok(subject)
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
            let discovery = discovery_url(config);
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

fn discovery_url(config: &OidcConfig) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        config.issuer.trim_end_matches('/')
    )
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
    /// The subject a bearer JWT names, or why it is refused (never the token itself).
    pub fn subject(&self, token: &str, now: i64) -> Result<Subject, String> {
        self.check(token, now, &self.config.audience)
            .map(|(s, _)| s)
    }

    /// The subject and claims of a JWT for `audience`, or why it is refused.
    fn check(
        &self,
        token: &str,
        now: i64,
        audience: &str,
    ) -> Result<(Subject, serde_json::Value), String> {
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
        let aud_ok = match &claims["aud"] {
            serde_json::Value::String(a) => a.as_str() == audience,
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
        Ok((Subject::User { name, groups }, claims))
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
            client_id: None,
            client_secret_env: None,
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
