//! URLs of the OCI distribution API
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md#endpoints>), and
//! redaction of URLs for logs and errors.

use reqwest::Url;

use crate::digest::Digest;

/// Builds endpoint URLs for one registry host.
#[derive(Clone, Debug)]
pub struct Urls {
    base: String,
}

impl Urls {
    /// `http://host` with `plain_http`, else `https://host`.
    pub fn new(host: &str, plain_http: bool) -> Urls {
        let scheme = if plain_http { "http" } else { "https" };
        Urls {
            base: format!("{scheme}://{host}"),
        }
    }

    fn parse(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.base)).expect("registry URLs are well-formed")
    }

    /// `GET /v2/`: the API version check, also the login probe.
    pub fn ping(&self) -> Url {
        self.parse("/v2/")
    }

    /// `/v2/<name>/manifests/<reference>`.
    pub fn manifest(&self, repository: &str, reference: &str) -> Url {
        self.parse(&format!("/v2/{repository}/manifests/{reference}"))
    }

    /// `/v2/<name>/blobs/<digest>`.
    pub fn blob(&self, repository: &str, digest: &Digest) -> Url {
        self.parse(&format!("/v2/{repository}/blobs/{digest}"))
    }

    /// `/v2/<name>/referrers/<digest>` (OCI distribution 1.1).
    pub fn referrers(&self, repository: &str, digest: &Digest) -> Url {
        self.parse(&format!("/v2/{repository}/referrers/{digest}"))
    }

    /// `POST /v2/<name>/blobs/uploads/`.
    pub fn start_upload(&self, repository: &str) -> Url {
        self.parse(&format!("/v2/{repository}/blobs/uploads/"))
    }

    /// `POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<other>`.
    pub fn mount(&self, repository: &str, digest: &Digest, from: &str) -> Url {
        let mut url = self.start_upload(repository);
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from);
        url
    }

    /// `/v2/<name>/tags/list`.
    pub fn tags(&self, repository: &str) -> Url {
        self.parse(&format!("/v2/{repository}/tags/list"))
    }

    /// `/v2/_catalog`.
    pub fn catalog(&self) -> Url {
        self.parse("/v2/_catalog")
    }

    /// Resolves a `Location` or `Link` value (absolute, or relative to the registry).
    ///
    /// # Errors
    /// A message when the value is not a URL.
    pub fn resolve(&self, location: &str) -> Result<Url, String> {
        let base = self.parse("/");
        base.join(location)
            .map_err(|e| format!("bad location {location:?}: {e}"))
    }
}

/// Appends `digest=<digest>` to an upload location, keeping the query it already has
/// (CNCF distribution's `?_state=`).
pub fn with_digest(mut location: Url, digest: &Digest) -> Url {
    location
        .query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    location
}

/// The URL without credentials or query string (presigned URLs carry secrets there).
pub fn redact(url: &Url) -> String {
    let mut clean = url.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    let had_query = clean.query().is_some();
    clean.set_query(None);
    if had_query {
        format!("{clean}?<redacted>")
    } else {
        clean.to_string()
    }
}

/// The `next` target of a `Link: <url>; rel="next"` header.
pub fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .contains("rel=\"next\"")
            .then(|| target.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_endpoint_urls() {
        let urls = Urls::new("127.0.0.1:5000", true);
        let digest = Digest::sha256_of(b"");
        assert_eq!(urls.ping().as_str(), "http://127.0.0.1:5000/v2/");
        assert_eq!(
            urls.manifest("team/bert", "1.0").as_str(),
            "http://127.0.0.1:5000/v2/team/bert/manifests/1.0"
        );
        assert_eq!(
            urls.blob("m", &digest).as_str(),
            format!("http://127.0.0.1:5000/v2/m/blobs/{digest}")
        );
        assert_eq!(
            urls.mount("a", &digest, "b/c").as_str(),
            format!(
                "http://127.0.0.1:5000/v2/a/blobs/uploads/?mount=sha256%3A{}&from=b%2Fc",
                digest.hex()
            )
        );
        assert_eq!(
            Urls::new("ghcr.io", false).tags("o/m").as_str(),
            "https://ghcr.io/v2/o/m/tags/list"
        );
    }

    #[test]
    fn upload_locations_keep_their_state_query() {
        let urls = Urls::new("r:5000", true);
        let location = urls
            .resolve("http://r:5000/v2/m/blobs/uploads/abc?_state=xyz")
            .unwrap();
        let digest = Digest::sha256_of(b"");
        assert_eq!(
            with_digest(location, &digest).as_str(),
            format!(
                "http://r:5000/v2/m/blobs/uploads/abc?_state=xyz&digest=sha256%3A{}",
                digest.hex()
            )
        );
        let relative = urls.resolve("/v2/m/blobs/uploads/abc").unwrap();
        assert_eq!(relative.as_str(), "http://r:5000/v2/m/blobs/uploads/abc");
    }

    #[test]
    fn redaction_drops_credentials_and_queries() {
        let url =
            Url::parse("https://user:secret@s3.example.com/blob?X-Amz-Signature=abc").unwrap();
        assert_eq!(redact(&url), "https://s3.example.com/blob?<redacted>");
        let plain = Url::parse("https://ghcr.io/v2/").unwrap();
        assert_eq!(redact(&plain), "https://ghcr.io/v2/");
    }

    #[test]
    fn finds_next_links() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }
}
