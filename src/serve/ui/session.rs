//! Browser sessions: after signing in with an API token, the browser holds a cookie that
//! names the subject and its expiry, signed with HMAC-SHA256 (`HttpOnly`, `SameSite=Strict`,
//! `Secure` behind HTTPS). Forms carry a CSRF token derived from the session, so a page of
//! another site can neither read nor forge one. The key is the configured session secret
//! (shared by replicas) or, without one, random per process.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::super::auth::Subject;

/// The cookie's name.
pub const COOKIE: &str = "modelark_session";

/// How long a session lasts.
const LIFETIME: i64 = 8 * 3600;

/// Signs and checks sessions.
pub struct Sessions {
    key: ring::hmac::Key,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    name: String,
    groups: Vec<String>,
    exp: i64,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    /// Sessions signed with `secret`, or a random key when there is none.
    ///
    /// # Errors
    /// No randomness from the operating system.
    pub fn new(secret: Option<&[u8]>) -> Result<Sessions, getrandom::Error> {
        let key = match secret {
            Some(secret) => secret.to_vec(),
            None => {
                let mut random = vec![0u8; 32];
                getrandom::fill(&mut random)?;
                random
            }
        };
        Ok(Sessions {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        })
    }

    /// A cookie value for `subject`, valid from `now` for eight hours.
    pub fn issue(&self, subject: &Subject, now: i64) -> Option<String> {
        let Subject::User { name, groups } = subject else {
            return None;
        };
        let claims = Claims {
            name: name.clone(),
            groups: groups.clone(),
            exp: now + LIFETIME,
        };
        let body = b64(&serde_json::to_vec(&claims).ok()?);
        let tag = ring::hmac::sign(&self.key, body.as_bytes());
        Some(format!("{body}.{}", b64(tag.as_ref())))
    }

    /// The subject a cookie value names, when its signature holds and it has not expired.
    pub fn subject(&self, value: &str, now: i64) -> Option<Subject> {
        let (body, tag) = value.split_once('.')?;
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(tag)
            .ok()?;
        ring::hmac::verify(&self.key, body.as_bytes(), &tag).ok()?;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .ok()?;
        let claims: Claims = serde_json::from_slice(&json).ok()?;
        (now <= claims.exp).then_some(Subject::User {
            name: claims.name,
            groups: claims.groups,
        })
    }

    /// `value` signed, for a short-lived cookie of the sign-in flow (its MAC is over
    /// `purpose` too, so it is never taken for a session).
    pub fn seal(&self, purpose: &str, value: &serde_json::Value) -> String {
        let body = b64(value.to_string().as_bytes());
        let tag = ring::hmac::sign(&self.key, format!("{purpose}:{body}").as_bytes());
        format!("{body}.{}", b64(tag.as_ref()))
    }

    /// What [`Sessions::seal`] signed for `purpose`, if the signature holds.
    pub fn open(&self, purpose: &str, sealed: &str) -> Option<serde_json::Value> {
        let (body, tag) = sealed.split_once('.')?;
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(tag)
            .ok()?;
        ring::hmac::verify(&self.key, format!("{purpose}:{body}").as_bytes(), &tag).ok()?;
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(body)
            .ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// The CSRF token of a session: only a page served to that session can know it.
    pub fn csrf(&self, session: &str) -> String {
        let tag = ring::hmac::sign(&self.key, format!("csrf:{session}").as_bytes());
        b64(tag.as_ref())
    }

    /// Whether `token` is the CSRF token of `session` (compared in constant time).
    pub fn check_csrf(&self, session: &str, token: &str) -> bool {
        let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        ring::hmac::verify(&self.key, format!("csrf:{session}").as_bytes(), &tag).is_ok()
    }
}

/// The session cookie's value in a `Cookie` header.
pub fn cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    named_cookie(headers, COOKIE)
}

/// The value of the cookie `name` in a `Cookie` header.
pub fn named_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_cannot_be_forged() {
        let sessions = Sessions::new(Some(b"k")).unwrap();
        let alice = Subject::User {
            name: "alice".into(),
            groups: vec!["leads".into()],
        };
        let cookie = sessions.issue(&alice, 1000).unwrap();
        assert_eq!(
            sessions.subject(&cookie, 1000 + LIFETIME),
            Some(alice.clone())
        );
        assert_eq!(sessions.subject(&cookie, 1001 + LIFETIME), None, "expired");
        let other = Sessions::new(Some(b"other")).unwrap();
        assert_eq!(other.subject(&cookie, 1000), None, "another key");
        let (body, tag) = cookie.split_once('.').unwrap();
        let forged = b64(br#"{"name":"root","groups":["admins"],"exp":99999999999}"#);
        assert_eq!(sessions.subject(&format!("{forged}.{tag}"), 1000), None);
        assert_eq!(sessions.subject(body, 1000), None);
        let csrf = sessions.csrf(&cookie);
        assert!(sessions.check_csrf(&cookie, &csrf));
        assert!(!sessions.check_csrf(&format!("{cookie}x"), &csrf));
        assert!(!sessions.check_csrf(&cookie, "AAAA"));
        assert_eq!(sessions.issue(&Subject::Anonymous, 0), None);
    }
}
