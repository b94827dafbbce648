//! Who may do what where: one question, asked the same way by every handler.

use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

use super::auth::Subject;
use super::config::{AccessRule, Anonymous};

/// What a subject may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// See models, versions, files, history.
    Read,
    /// Sign a version with the service key.
    Sign,
    /// Attest a version with the service key.
    Attest,
    /// Approve or reject a version for an environment.
    Approve,
    /// Move an alias (promote, rollback).
    Promote,
}

impl Action {
    /// Its name in rules and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Sign => "sign",
            Action::Attest => "attest",
            Action::Approve => "approve",
            Action::Promote => "promote",
        }
    }
}

struct Rule {
    subjects: Vec<String>,
    repositories: Vec<GlobMatcher>,
    allow: Vec<Action>,
    environments: Option<Vec<String>>,
}

/// The access rules, compiled.
pub struct Access {
    anonymous: Anonymous,
    rules: Vec<Rule>,
}

impl Access {
    /// Compiles the configured rules (their globs were checked when the config loaded).
    pub fn new(anonymous: Anonymous, rules: &[AccessRule]) -> Access {
        let rules = rules
            .iter()
            .map(|r| Rule {
                subjects: r.subjects.clone(),
                repositories: r
                    .repositories
                    .iter()
                    .filter_map(|g| {
                        let glob = globset::GlobBuilder::new(g).literal_separator(true).build();
                        glob.or_else(|_| Glob::new(g))
                            .ok()
                            .map(|g| g.compile_matcher())
                    })
                    .collect(),
                allow: r.allow.clone(),
                environments: r.environments.clone(),
            })
            .collect();
        Access { anonymous, rules }
    }

    /// May `subject` do `action` on `repository` (its path without the host), for
    /// `environment` (an approval's environment, a promotion's alias) when given?
    pub fn allows(
        &self,
        subject: &Subject,
        action: Action,
        repository: &str,
        environment: Option<&str>,
    ) -> bool {
        if action == Action::Read && self.anonymous == Anonymous::Viewer {
            return true;
        }
        self.rules.iter().any(|rule| {
            rule.allow.contains(&action)
                && rule.subjects.iter().any(|s| subject.is(s))
                && rule.repositories.iter().any(|g| g.is_match(repository))
                && match (&rule.environments, environment) {
                    (Some(allowed), Some(env)) => allowed.iter().any(|a| a == env),
                    _ => true,
                }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        subjects: &[&str],
        repos: &[&str],
        allow: &[Action],
        envs: Option<&[&str]>,
    ) -> AccessRule {
        AccessRule {
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            repositories: repos.iter().map(|s| s.to_string()).collect(),
            allow: allow.to_vec(),
            environments: envs.map(|e| e.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn rules_match_subject_action_repository_and_environment() {
        let access = Access::new(
            Anonymous::None,
            &[
                rule(
                    &["group:publishers"],
                    &["ml/**"],
                    &[Action::Read, Action::Sign],
                    None,
                ),
                rule(
                    &["alice"],
                    &["ml/*"],
                    &[Action::Approve, Action::Promote],
                    Some(&["production"]),
                ),
            ],
        );
        let alice = Subject::user("alice", &["ml-leads"]);
        let ci = Subject::user("ci", &["publishers"]);
        let nobody = Subject::Anonymous;
        assert!(access.allows(&ci, Action::Sign, "ml/a/b", None));
        assert!(!access.allows(&ci, Action::Approve, "ml/a", Some("production")));
        assert!(access.allows(&alice, Action::Approve, "ml/a", Some("production")));
        assert!(!access.allows(&alice, Action::Approve, "ml/a", Some("staging")));
        assert!(
            !access.allows(&alice, Action::Approve, "ml/a/b", Some("production")),
            "* stays in one component"
        );
        assert!(!access.allows(&alice, Action::Read, "ml/a", None));
        assert!(!access.allows(&nobody, Action::Read, "ml/a", None));
        let open = Access::new(Anonymous::Viewer, &[]);
        assert!(open.allows(&nobody, Action::Read, "anything", None));
        assert!(!open.allows(&nobody, Action::Sign, "anything", None));
    }
}
