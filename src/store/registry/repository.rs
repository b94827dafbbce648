//! Repository operations of the distribution API: manifests (get, put), tags (paginated),
//! blob existence, cross-repository mount, and delete.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::urls::{self, redact};
use super::{Access, Error, MANIFEST_ACCEPT, Repository};
use crate::digest::Digest;
use crate::media_types;
use crate::oci::{Descriptor, MAX_MANIFEST_SIZE};

impl Repository {
    /// Fetches a manifest by tag or digest, verifying it when fetched by digest.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Verification`], [`Error::Protocol`] for manifests over
    /// 4 MiB.
    pub async fn manifest(&self, reference: &str) -> Result<(Descriptor, Vec<u8>), Error> {
        let url = self.urls.manifest(&self.name, reference);
        let response = self
            .send("fetch manifest", &Access::Pull, |http| {
                http.get(url.clone()).header(ACCEPT, MANIFEST_ACCEPT)
            })
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(Error::NotFound {
                reference: format!("{}/{}{}", self.host, self.name, separator(reference)),
            });
        }
        let mut response = self
            .expect(response, &[StatusCode::OK], "fetch manifest", &url)
            .await?;
        let header_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|source| Error::Http {
            operation: "fetch manifest",
            url: redact(&url),
            source,
        })? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > MAX_MANIFEST_SIZE {
                return Err(Error::Protocol {
                    url: redact(&url),
                    reason: "the manifest is larger than 4 MiB".into(),
                });
            }
        }
        let digest = Digest::sha256_of(&bytes);
        if let Ok(expected) = reference.parse::<Digest>()
            && expected != digest
        {
            return Err(Error::Verification {
                what: format!("manifest {expected}"),
                url: redact(&url),
                source: crate::digest::Error::Mismatch {
                    expected,
                    actual: digest,
                },
            });
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            media_type: Option<String>,
            artifact_type: Option<String>,
        }
        let probe: Option<Probe> = serde_json::from_slice(&bytes).ok();
        let media_type = probe
            .as_ref()
            .and_then(|p| p.media_type.clone())
            .or(header_type)
            .unwrap_or_else(|| media_types::OCI_MANIFEST.to_owned());
        let mut descriptor = Descriptor::new(media_type, digest, bytes.len() as u64);
        descriptor.artifact_type = probe.and_then(|p| p.artifact_type);
        Ok((descriptor, bytes))
    }

    /// Uploads a manifest under a tag or its digest.
    ///
    /// # Errors
    /// [`Error::Registry`] when refused.
    pub async fn put_manifest(
        &self,
        reference: &str,
        descriptor: &Descriptor,
        bytes: &[u8],
    ) -> Result<(), Error> {
        let url = self.urls.manifest(&self.name, reference);
        let body = bytes::Bytes::copy_from_slice(bytes);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self
                .send("push manifest", &Access::Push, |http| {
                    http.put(url.clone())
                        .header(CONTENT_TYPE, descriptor.media_type.clone())
                        .body(body.clone())
                })
                .await?;
            let result = self
                .expect(
                    response,
                    &[StatusCode::CREATED, StatusCode::OK],
                    "push manifest",
                    &url,
                )
                .await;
            match result {
                // CNCF distribution races when the same blob is pushed to one repository
                // at once (a blob's link file is read while another upload writes it) and
                // then calls a manifest whose bytes match its digest invalid. The manifest
                // is ours and its digest computed from its bytes, so asking again is safe.
                Err(Error::Registry {
                    status,
                    code: Some(code),
                    ..
                }) if status == StatusCode::BAD_REQUEST
                    && code == "DIGEST_INVALID"
                    && attempt < 4 =>
                {
                    tracing::info!(
                        "{url} answered DIGEST_INVALID for a manifest that matches its digest; retrying"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                }
                other => return other.map(drop),
            }
        }
    }

    /// True when the repository has the blob (with the right size, when the registry says).
    ///
    /// # Errors
    /// Transport and status errors other than 404.
    pub async fn has_blob(&self, descriptor: &Descriptor) -> Result<bool, Error> {
        let url = self.urls.blob(&self.name, &descriptor.digest);
        let response = self
            .send("check blob", &Access::Pull, |http| http.head(url.clone()))
            .await?;
        match response.status() {
            // The header, not `content_length()`: for HEAD that is the empty body's length.
            StatusCode::OK => Ok(response
                .headers()
                .get(reqwest::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .is_none_or(|length| length == descriptor.size)),
            StatusCode::NOT_FOUND => Ok(false),
            _ => self
                .expect(response, &[], "check blob", &url)
                .await
                .map(|_| false),
        }
    }

    /// Asks the registry to link a blob from repository `from`; false when it cannot
    /// (then the blob must be uploaded).
    ///
    /// # Errors
    /// Transport errors.
    pub async fn mount(&self, descriptor: &Descriptor, from: &str) -> Result<bool, Error> {
        let url = self.urls.mount(&self.name, &descriptor.digest, from);
        let access = Access::Mount(from.to_owned());
        let response = self
            .send("mount blob", &access, |http| http.post(url.clone()))
            .await?;
        Ok(response.status() == StatusCode::CREATED)
    }

    /// Every repository on the registry (`_catalog`, across `Link` pages), sorted. Called on
    /// a handle whose name is empty; registries that do not offer the catalog answer 404.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the registry has no catalog.
    pub async fn catalog(&self) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct Page {
            repositories: Option<Vec<String>>,
        }
        let missing = format!("{}/_catalog", self.host);
        self.list_pages(
            self.urls.catalog(),
            "list repositories of",
            &Access::Catalog,
            missing,
            |p: Page| p.repositories,
        )
        .await
    }

    /// Every tag, across pages, sorted (registries answer unsorted, or `null` when empty).
    ///
    /// # Errors
    /// [`Error::NotFound`] when the repository does not exist.
    pub async fn tags(&self) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        let missing = format!("{}/{}", self.host, self.name);
        self.list_pages(
            self.urls.tags(&self.name),
            "list tags",
            &Access::Pull,
            missing,
            |p: Page| p.tags,
        )
        .await
    }

    /// Follows `Link: <...>; rel="next"` from `first`, collecting each page's names; the
    /// result is sorted and without duplicates. A 404 is [`Error::NotFound`] for `missing`.
    async fn list_pages<P: serde::de::DeserializeOwned>(
        &self,
        first: reqwest::Url,
        operation: &'static str,
        access: &Access,
        missing: String,
        names: impl Fn(P) -> Option<Vec<String>>,
    ) -> Result<Vec<String>, Error> {
        let mut url = first;
        let mut all = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let limit = self.client.options.max_pages;
        loop {
            // A `next` link back to a page already read, or an endless chain, would never
            // end: both are the registry's fault, and said so.
            if !seen.insert(url.to_string()) {
                return Err(Error::Protocol {
                    url: redact(&url),
                    reason: format!(
                        "the {operation} listing links back to a page it already returned (after {} pages)",
                        seen.len() - 1
                    ),
                });
            }
            if seen.len() > limit {
                return Err(Error::Protocol {
                    url: redact(&url),
                    reason: format!("the listing has more than {limit} pages"),
                });
            }
            let current = url.clone();
            let response = self
                .send(operation, access, |http| http.get(current.clone()))
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                return Err(Error::NotFound { reference: missing });
            }
            let response = self
                .expect(response, &[StatusCode::OK], operation, &current)
                .await?;
            let next = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(urls::next_link)
                .map(str::to_owned);
            let body = response.bytes().await.map_err(|source| Error::Http {
                operation,
                url: redact(&current),
                source,
            })?;
            let page: P = serde_json::from_slice(&body).map_err(|e| Error::Protocol {
                url: redact(&current),
                reason: format!("the listing is not the JSON the spec defines: {e}"),
            })?;
            all.extend(names(page).unwrap_or_default());
            match next {
                Some(next) => {
                    url = self.urls.resolve(&next).map_err(|reason| Error::Protocol {
                        url: redact(&current),
                        reason,
                    })?
                }
                None => break,
            }
        }
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// The referrers index of `digest` from the OCI 1.1 referrers API, or `None` when the
    /// registry does not offer the API (callers then read the `sha256-<hex>` fallback tag).
    ///
    /// # Errors
    /// Transport errors and malformed answers.
    pub async fn referrers(&self, digest: &Digest) -> Result<Option<crate::oci::Index>, Error> {
        // Support is a property of the registry: one 404 answers for every later model.
        if self.lacks_referrers() {
            return Ok(None);
        }
        let url = self.urls.referrers(&self.name, digest);
        let response = self
            .send("list referrers of", &Access::Pull, |http| {
                http.get(url.clone()).header(ACCEPT, media_types::OCI_INDEX)
            })
            .await?;
        let unsupported = [
            StatusCode::NOT_FOUND,
            StatusCode::BAD_REQUEST,
            StatusCode::METHOD_NOT_ALLOWED,
            StatusCode::NOT_IMPLEMENTED,
        ];
        let is_index = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(media_types::OCI_INDEX));
        if unsupported.contains(&response.status()) || !is_index {
            self.note_no_referrers();
            return Ok(None);
        }
        let response = self
            .expect(response, &[StatusCode::OK], "list referrers of", &url)
            .await?;
        let body = response.bytes().await.map_err(|source| Error::Http {
            operation: "list referrers of",
            url: redact(&url),
            source,
        })?;
        let index: crate::oci::Index =
            serde_json::from_slice(&body).map_err(|e| Error::Protocol {
                url: redact(&url),
                reason: format!("the referrers index is not an OCI index: {e}"),
            })?;
        Ok(Some(index))
    }

    /// Deletes a manifest by digest (every tag pointing at it goes with it).
    ///
    /// # Errors
    /// [`Error::DeleteDisabled`], [`Error::NotFound`].
    pub async fn delete_manifest(&self, digest: &Digest) -> Result<(), Error> {
        let url = self.urls.manifest(&self.name, &digest.to_string());
        let response = self
            .send("delete manifest", &Access::Push, |http| {
                http.request(Method::DELETE, url.clone())
            })
            .await?;
        match response.status() {
            StatusCode::ACCEPTED | StatusCode::OK => Ok(()),
            StatusCode::METHOD_NOT_ALLOWED => Err(Error::DeleteDisabled {
                registry: self.host.clone(),
            }),
            StatusCode::NOT_FOUND => Err(Error::NotFound {
                reference: format!("{}/{}@{digest}", self.host, self.name),
            }),
            _ => self
                .expect(response, &[], "delete manifest", &url)
                .await
                .map(|_| ()),
        }
    }
}

fn separator(reference: &str) -> String {
    if reference.contains(':') {
        format!("@{reference}")
    } else {
        format!(":{reference}")
    }
}
