//! `hf:ORG/NAME[@REVISION]`: a model in the local Hugging Face Hub cache, packed or pushed
//! like a directory. The cache is the Hub's own layout (`models--ORG--NAME/refs/REF` holds
//! a commit; `snapshots/COMMIT/` holds the files as symlinks into `blobs/`); symlinks are
//! followed only inside that repository's folder, and no network is used. The front end
//! says where the cache is (the CLI and the Python package read `$HF_HUB_CACHE`, else
//! `$HF_HOME/hub`, else `~/.cache/huggingface/hub`, as `huggingface_hub` does).

use std::path::{Path, PathBuf};

use super::Error;
use super::pack::ModelInput;
use crate::error::Result;
use crate::metadata::Source;

/// The prefix of a Hub cache reference.
pub const PREFIX: &str = "hf:";

/// A model snapshot in the Hub cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// `ORG/NAME` (or `NAME`).
    pub repo_id: String,
    /// The commit the snapshot is of.
    pub commit: String,
    /// The snapshot directory (its files link into the repository's `blobs/`).
    pub dir: PathBuf,
    /// The repository's cache folder (`models--ORG--NAME`): where links may point.
    pub repo_dir: PathBuf,
}

impl Snapshot {
    /// The lineage source this snapshot records: `hf://ORG/NAME` at its commit.
    pub fn source(&self) -> Source {
        Source {
            repo: format!("hf://{}", self.repo_id),
            revision: Some(self.commit.clone()),
        }
    }

    /// `model` (made for [`Snapshot::dir`]) with links allowed into the repository's
    /// folder and the snapshot as its lineage source, unless one is already given.
    pub fn apply(&self, mut model: ModelInput) -> ModelInput {
        model.dir = self.dir.clone();
        model.links_within = Some(self.repo_dir.clone());
        if model.overrides.lineage.source.is_none() {
            model.overrides.lineage.source = Some(self.source());
        }
        model
    }
}

/// Finds `spec` (`ORG/NAME[@REVISION]`, the text after `hf:`) in the Hub cache at `cache`.
/// The revision is a branch or tag name under `refs/` (default `main`) or a commit.
///
/// # Errors
/// [`Error::HfCache`] naming what is missing.
pub fn resolve(cache: &Path, spec: &str) -> Result<Snapshot> {
    let fail = |reason: String| -> crate::Error {
        Error::HfCache {
            spec: format!("{PREFIX}{spec}"),
            cache: cache.to_owned(),
            reason,
        }
        .into()
    };
    let (repo_id, revision) = match spec.split_once('@') {
        Some((repo, revision)) => (repo, revision),
        None => (spec, "main"),
    };
    let component = |c: &str| {
        !c.is_empty()
            && c != "."
            && c != ".."
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    let parts: Vec<&str> = repo_id.split('/').collect();
    if parts.is_empty() || parts.len() > 2 || !parts.iter().all(|c| component(c)) {
        return Err(fail(format!(
            "{repo_id:?} is not a Hub model id (ORG/NAME, letters, digits, '.', '_', '-')"
        )));
    }
    if revision.is_empty()
        || revision.starts_with('/')
        || revision.split('/').any(|c| !component(c))
    {
        return Err(fail(format!(
            "{revision:?} is not a revision (a branch, tag or commit)"
        )));
    }
    let repo_dir = cache.join(format!("models--{}", parts.join("--")));
    if !repo_dir.is_dir() {
        return Err(fail(format!(
            "{} does not exist (download the model first, e.g. `hf download {repo_id}`)",
            repo_dir.display()
        )));
    }
    let is_commit = revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit());
    let commit = if is_commit && repo_dir.join("snapshots").join(revision).is_dir() {
        revision.to_owned()
    } else {
        let reference = repo_dir.join("refs").join(revision);
        let text = fs_err::read_to_string(&reference).map_err(|_| {
            fail(format!(
                "no revision {revision:?}: {} does not exist",
                reference.display()
            ))
        })?;
        let commit = text.trim().to_owned();
        if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(fail(format!(
                "{} does not hold a commit hash",
                reference.display()
            )));
        }
        commit
    };
    let dir = repo_dir.join("snapshots").join(&commit);
    let canonical_repo = fs_err::canonicalize(&repo_dir).map_err(|e| fail(e.to_string()))?;
    let canonical_dir = fs_err::canonicalize(&dir)
        .map_err(|_| fail(format!("the snapshot {} does not exist", dir.display())))?;
    if !canonical_dir.starts_with(&canonical_repo) || !canonical_dir.is_dir() {
        return Err(fail(format!(
            "the snapshot {} is not a directory inside {}",
            dir.display(),
            repo_dir.display()
        )));
    }
    Ok(Snapshot {
        repo_id: parts.join("/"),
        commit,
        dir: canonical_dir,
        repo_dir: canonical_repo,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    fn cache() -> tempfile::TempDir {
        let cache = tempfile::tempdir().unwrap();
        let repo = cache.path().join("models--acme--tiny");
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("snapshots").join(COMMIT)).unwrap();
        std::fs::write(repo.join("refs/main"), COMMIT).unwrap();
        cache
    }

    #[test]
    fn resolves_a_branch_a_commit_and_the_default() {
        let cache = cache();
        for spec in [
            "acme/tiny",
            "acme/tiny@main",
            &format!("acme/tiny@{COMMIT}"),
        ] {
            let snapshot = resolve(cache.path(), spec).unwrap();
            assert_eq!(snapshot.commit, COMMIT, "{spec}");
            assert_eq!(snapshot.repo_id, "acme/tiny");
            assert!(snapshot.dir.ends_with(format!("snapshots/{COMMIT}")));
            assert_eq!(snapshot.source().repo, "hf://acme/tiny");
        }
    }

    #[test]
    fn refuses_what_is_not_there_or_escapes() {
        let cache = cache();
        for (spec, reason) in [
            ("acme/other", "does not exist"),
            ("acme/tiny@v2", "no revision \"v2\""),
            ("../tiny", "not a Hub model id"),
            ("acme/tiny@../../x", "not a revision"),
            ("a/b/c", "not a Hub model id"),
        ] {
            let error = resolve(cache.path(), spec).unwrap_err().to_string();
            assert!(error.contains(reason), "{spec}: {error}");
            assert!(error.contains(&format!("hf:{spec}")), "{error}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_snapshot_linked_outside_the_repository_is_refused() {
        let cache = cache();
        let outside = tempfile::tempdir().unwrap();
        let other = "fedcba9876543210fedcba9876543210fedcba98";
        let snapshots = cache.path().join("models--acme--tiny/snapshots");
        std::os::unix::fs::symlink(outside.path(), snapshots.join(other)).unwrap();
        let error = resolve(cache.path(), &format!("acme/tiny@{other}"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a directory inside"), "{error}");
    }
}
