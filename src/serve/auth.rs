//! Who is asking: an API token (`Authorization: Bearer TOKEN`, stored as its sha256 and
//! compared in constant time) or nobody. Tokens never reach a log line.

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::config::TokenConfig;

/// An authenticated user or the anonymous client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// No credentials were given.
    Anonymous,
    /// A token holder.
    User {
        /// The token's name.
        name: String,
        /// Its groups.
        groups: Vec<String>,
    },
}

impl Subject {
    /// A named user in `groups`.
    #[cfg(test)]
    pub fn user(name: &str, groups: &[&str]) -> Subject {
        Subject::User {
            name: name.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    /// Whether an access rule's subject entry names this subject: its name,
    /// `group:NAME` of one of its groups, `authenticated` for any user, `anonymous`.
    pub fn is(&self, entry: &str) -> bool {
        match self {
            Subject::Anonymous => entry == "anonymous",
            Subject::User { name, groups } => {
                entry == "authenticated"
                    || entry == name
                    || entry
                        .strip_prefix("group:")
                        .is_some_and(|g| groups.iter().any(|mine| mine == g))
            }
        }
    }

    /// The name recorded in signed records.
    pub fn name(&self) -> &str {
        match self {
            Subject::Anonymous => "anonymous",
            Subject::User { name, .. } => name,
        }
    }
}

/// The configured tokens, and the OIDC issuer whose JWTs are accepted.
pub struct Tokens {
    tokens: Vec<([u8; 32], TokenConfig)>,
    oidc: Option<std::sync::Arc<super::oidc::Oidc>>,
}

/// Why a request's credentials were refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not a `Bearer` authorization.
    Scheme,
    /// A token no configured one matches.
    Unknown,
    /// A JWT that does not validate, and why.
    Jwt(String),
}

impl Tokens {
    /// The tokens from the configuration (hex checked when it loaded).
    pub fn new(tokens: &[TokenConfig], oidc: Option<std::sync::Arc<super::oidc::Oidc>>) -> Tokens {
        let tokens = tokens
            .iter()
            .filter_map(|t| {
                let bytes: [u8; 32] = hex::decode(&t.sha256).ok()?.try_into().ok()?;
                Some((bytes, t.clone()))
            })
            .collect();
        Tokens { tokens, oidc }
    }

    /// The issuer browsers sign in through, when one is configured for it.
    pub fn browser_issuer(&self) -> Option<&str> {
        self.oidc
            .as_deref()
            .filter(|o| o.browser())
            .map(|o| o.issuer())
    }

    /// The OIDC issuer.
    pub fn oidc(&self) -> Option<&super::oidc::Oidc> {
        self.oidc.as_deref()
    }

    /// The subject an `Authorization` header value names.
    pub fn subject(&self, authorization: Option<&str>) -> Result<Subject, Refused> {
        let Some(value) = authorization else {
            return Ok(Subject::Anonymous);
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(Refused::Scheme)?
            .trim();
        if let Some(oidc) = &self.oidc
            && token.matches('.').count() == 2
        {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            return oidc.subject(token, now).map_err(Refused::Jwt);
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Every configured token is compared, so timing does not tell which one was close.
        let mut found = None;
        for (expected, config) in &self.tokens {
            if bool::from(expected.ct_eq(&hash)) {
                found = Some(config);
            }
        }
        let config = found.ok_or(Refused::Unknown)?;
        Ok(Subject::User {
            name: config.name.clone(),
            groups: config.groups.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_matched_by_their_hash() {
        let hash = hex::encode(Sha256::digest(b"s3cret"));
        let tokens = Tokens::new(
            &[TokenConfig {
                name: "alice".into(),
                sha256: hash,
                groups: vec!["leads".into()],
            }],
            None,
        );
        assert_eq!(
            tokens.subject(Some("Bearer s3cret")),
            Ok(Subject::user("alice", &["leads"]))
        );
        assert_eq!(tokens.subject(Some("Bearer s3cre")), Err(Refused::Unknown));
        assert_eq!(tokens.subject(Some("Basic czNjcmV0")), Err(Refused::Scheme));
        assert_eq!(tokens.subject(None), Ok(Subject::Anonymous));
    }
}
