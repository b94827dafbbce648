//! The lineage graph of a model: parent models (from its metadata and from verified
//! provenance attestations) resolved across repositories, datasets and source code, each
//! model with its digest and verification state. Missing parents and cycles are reported as
//! node states, never followed forever.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::digest::Digest;
use crate::error::Result;
use crate::reference::Reference;
use crate::sign::{attach, predicate};
use crate::store::Endpoint;
use crate::verify::{Evidence, TrustedKey};

/// A node of the lineage graph.
#[derive(Clone, Debug, Serialize)]
pub struct Node {
    /// Its identity: `REF@DIGEST` for models found, the reference or URI otherwise.
    pub id: String,
    /// `model`, `dataset` or `source`.
    pub kind: String,
    /// The manifest digest (models found) or recorded digest (datasets).
    pub digest: Option<String>,
    /// Model name and version, when found.
    pub name: Option<String>,
    /// Model version, when found.
    pub version: Option<String>,
    /// `verified` (signed by trusted keys), `unverified`, `missing`, `cycle`, `mismatch`
    /// (the parent's digest is not the one recorded), or `recorded` (datasets, sources).
    pub state: String,
    /// Trusted signers, or why the node is missing.
    pub detail: String,
}

/// An edge: `from` was derived from / trained on `to`.
#[derive(Clone, Debug, Serialize)]
pub struct Edge {
    /// The child node id.
    pub from: String,
    /// The parent node id.
    pub to: String,
    /// `parent`, `dataset` or `source`.
    pub relation: String,
}

/// The graph, root first.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Graph {
    /// Nodes in discovery order.
    pub nodes: Vec<Node>,
    /// Edges.
    pub edges: Vec<Edge>,
}

/// Opens the endpoint a reference lives at (the CLI knows the registry settings).
pub type Opener<'a> = dyn Fn(&Reference) -> Result<Endpoint> + Sync + 'a;

struct Pending {
    reference: Reference,
    child: Option<String>,
    path: Vec<Digest>,
}

/// Walks the lineage of `root` up to `max_depth` generations.
///
/// # Errors
/// Only when the root itself cannot be read; parents that cannot be read become `missing`.
pub async fn walk(
    root: &Reference,
    open: &Opener<'_>,
    keys: &[TrustedKey],
    max_depth: usize,
) -> Result<Graph> {
    let mut graph = Graph::default();
    let mut seen: BTreeMap<Digest, String> = BTreeMap::new();
    let mut stack = vec![Pending {
        reference: root.clone(),
        child: None,
        path: Vec::new(),
    }];
    while let Some(Pending {
        reference,
        child,
        path,
    }) = stack.pop()
    {
        let is_root = child.is_none();
        let found = match open(&reference) {
            Ok(endpoint) => read(&endpoint, &reference, keys).await,
            Err(e) => Err(e),
        };
        let model = match found {
            Ok(found) => found,
            Err(e) if is_root => return Err(e),
            Err(e) => {
                let id = reference.to_string();
                graph.push(Node {
                    id: id.clone(),
                    kind: "model".into(),
                    digest: reference.digest().map(ToString::to_string),
                    name: None,
                    version: None,
                    state: "missing".into(),
                    detail: e.to_string(),
                });
                graph.link(child, &id, "parent");
                continue;
            }
        };
        let id = reference
            .without_selector()
            .with_digest(model.digest.clone())
            .to_string();
        if path.contains(&model.digest) {
            graph.push(Node {
                id: format!("{id} (again)"),
                kind: "model".into(),
                digest: Some(model.digest.to_string()),
                name: None,
                version: None,
                state: "cycle".into(),
                detail: "this model is its own ancestor".into(),
            });
            graph.link(child, &format!("{id} (again)"), "parent");
            continue;
        }
        if let Some(existing) = seen.get(&model.digest) {
            graph.link(child, &existing.clone(), "parent");
            continue;
        }
        let mismatch = reference.digest().is_some_and(|d| *d != model.digest);
        let state = if mismatch {
            "mismatch"
        } else if model.signers.is_empty() {
            "unverified"
        } else {
            "verified"
        };
        let detail = if mismatch {
            format!(
                "recorded as {}, found {}",
                reference
                    .digest()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                model.digest
            )
        } else if model.signers.is_empty() {
            "no signature by a trusted key".into()
        } else {
            format!("signed by {}", model.signers.join(", "))
        };
        graph.push(Node {
            id: id.clone(),
            kind: "model".into(),
            digest: Some(model.digest.to_string()),
            name: model.name.clone(),
            version: model.version.clone(),
            state: state.into(),
            detail,
        });
        graph.link(child, &id, "parent");
        seen.insert(model.digest.clone(), id.clone());
        for (uri, digest, relation, detail) in &model.inputs {
            graph.push(Node {
                id: uri.clone(),
                kind: relation.clone(),
                digest: digest.clone(),
                name: None,
                version: None,
                state: "recorded".into(),
                detail: detail.clone(),
            });
            graph.link(Some(id.clone()), uri, relation);
        }
        if path.len() >= max_depth {
            continue;
        }
        let mut next_path = path.clone();
        next_path.push(model.digest.clone());
        for parent in model.parents {
            stack.push(Pending {
                reference: parent,
                child: Some(id.clone()),
                path: next_path.clone(),
            });
        }
    }
    Ok(graph)
}

impl Graph {
    fn push(&mut self, node: Node) {
        if !self.nodes.iter().any(|n| n.id == node.id) {
            self.nodes.push(node);
        }
    }

    fn link(&mut self, from: Option<String>, to: &str, relation: &str) {
        if let Some(from) = from {
            self.edges.push(Edge {
                from,
                to: to.to_owned(),
                relation: relation.to_owned(),
            });
        }
    }

    /// Graphviz `dot` text.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph lineage {\n  rankdir=BT;\n");
        for node in &self.nodes {
            let shape = if node.kind == "model" {
                "box"
            } else {
                "ellipse"
            };
            let color = match node.state.as_str() {
                "verified" => "darkgreen",
                "missing" | "cycle" | "mismatch" => "red",
                _ => "black",
            };
            let label = match (&node.name, &node.version) {
                (Some(n), Some(v)) => format!("{n} {v}\\n{} [{}]", node.id, node.state),
                _ => format!("{} [{}]", node.id, node.state),
            };
            out.push_str(&format!(
                "  {:?} [shape={shape}, color={color}, label={:?}];\n",
                node.id, label
            ));
        }
        for edge in &self.edges {
            out.push_str(&format!(
                "  {:?} -> {:?} [label={:?}];\n",
                edge.from, edge.to, edge.relation
            ));
        }
        out.push_str("}\n");
        out
    }

    /// The graph as a standalone SVG picture: the model at the left, each generation of
    /// parents, datasets and sources one column further right, edges as lines. Every text is
    /// XML-escaped (node names come from untrusted metadata).
    pub fn to_svg(&self) -> String {
        const WIDTH: usize = 360;
        const HEIGHT: usize = 56;
        let mut column: BTreeMap<&str, usize> = BTreeMap::new();
        if let Some(root) = self.nodes.first() {
            column.insert(&root.id, 0);
        }
        // Edges are recorded child to parent as the walk found them: one pass places each.
        for _ in 0..self.nodes.len() {
            for edge in &self.edges {
                if let Some(&c) = column.get(edge.from.as_str()) {
                    column.entry(&edge.to).or_insert(c + 1);
                }
            }
        }
        let mut rows: BTreeMap<usize, usize> = BTreeMap::new();
        let mut place: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for node in &self.nodes {
            let c = column.get(node.id.as_str()).copied().unwrap_or(0);
            let row = rows.entry(c).or_default();
            place.insert(&node.id, (c * (WIDTH + 60) + 10, *row * (HEIGHT + 20) + 10));
            *row += 1;
        }
        let width = (rows.len().max(1)) * (WIDTH + 60) + 10;
        let height = rows.values().max().copied().unwrap_or(1) * (HEIGHT + 20) + 10;
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n"
        );
        for edge in &self.edges {
            let (Some(&(x1, y1)), Some(&(x2, y2))) =
                (place.get(edge.from.as_str()), place.get(edge.to.as_str()))
            else {
                continue;
            };
            out.push_str(&format!(
                "<line x1=\"{}\" y1=\"{}\" x2=\"{x2}\" y2=\"{}\" stroke=\"#888\"><title>{}</title></line>\n",
                x1 + WIDTH,
                y1 + HEIGHT / 2,
                y2 + HEIGHT / 2,
                xml(&edge.relation)
            ));
        }
        for node in &self.nodes {
            let Some(&(x, y)) = place.get(node.id.as_str()) else {
                continue;
            };
            let color = match node.state.as_str() {
                "verified" => "#116329",
                "missing" | "cycle" | "mismatch" => "#a40e26",
                _ => "#444",
            };
            let title = match (&node.name, &node.version) {
                (Some(n), Some(v)) => format!("{n} {v}"),
                _ => node.kind.clone(),
            };
            out.push_str(&format!(
                "<g><rect x=\"{x}\" y=\"{y}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" rx=\"6\" fill=\"white\" stroke=\"{color}\"/>\
                 <text x=\"{}\" y=\"{}\" font-weight=\"bold\">{} [{}]</text>\
                 <text x=\"{}\" y=\"{}\">{}</text></g>\n",
                x + 8,
                y + 20,
                xml(&title),
                xml(&node.state),
                x + 8,
                y + 40,
                xml(&shorten(&node.id, 56))
            ));
        }
        out.push_str("</svg>\n");
        out
    }
}

struct Found {
    digest: Digest,
    name: Option<String>,
    version: Option<String>,
    signers: Vec<String>,
    parents: Vec<Reference>,
    /// (URI, digest or revision, relation, detail) of each recorded input.
    inputs: Vec<(String, Option<String>, String, String)>,
}

async fn read(endpoint: &Endpoint, reference: &Reference, keys: &[TrustedKey]) -> Result<Found> {
    let resolved = endpoint.resolve(reference).await?;
    let view = super::versions::describe(endpoint, &resolved.descriptor, &resolved.bytes).await?;
    let attached = attach::discover(endpoint, &resolved.descriptor.digest).await?;
    let evidence = Evidence::collect(&resolved.descriptor.digest, &attached, keys);
    let lineage = &view.metadata.lineage;
    let mut parents: Vec<Reference> = lineage.parent.iter().cloned().collect();
    let mut inputs = Vec::new();
    if let Some(source) = &lineage.source {
        inputs.push((
            source.repo.clone(),
            source.revision.clone(),
            "source".to_owned(),
            String::new(),
        ));
    }
    for dataset in &lineage.datasets {
        inputs.push((
            dataset.uri.clone(),
            dataset.digest.as_ref().map(ToString::to_string),
            "dataset".to_owned(),
            String::new(),
        ));
    }
    // Upstream models outside any registry (a model card's base_model) are recorded, not
    // walked: their relation (finetune, adapter, ...) is the node's detail.
    for base in &lineage.base_models {
        inputs.push((
            base.uri.clone(),
            None,
            "base-model".to_owned(),
            base.relation.clone().unwrap_or_default(),
        ));
    }
    // Verified provenance adds what the metadata does not say.
    for check in evidence.attestations_of(predicate::SLSA_PROVENANCE_V1) {
        let Some(statement) = &check.statement else {
            continue;
        };
        let deps = statement
            .predicate
            .pointer("/buildDefinition/resolvedDependencies")
            .and_then(|d| d.as_array());
        for dep in deps.into_iter().flatten() {
            let uri = dep.get("uri").and_then(|u| u.as_str()).unwrap_or_default();
            let name = dep.get("name").and_then(|u| u.as_str()).unwrap_or_default();
            match (name, uri.strip_prefix("oci://")) {
                ("parent-model", Some(r)) | (_, Some(r)) => {
                    if let Ok(parent) = r.parse::<Reference>()
                        && !parents.contains(&parent)
                    {
                        parents.push(parent);
                    }
                }
                ("dataset", None) if !inputs.iter().any(|i| i.0 == uri) => {
                    inputs.push((uri.to_owned(), None, "dataset".to_owned(), String::new()));
                }
                _ => {}
            }
        }
    }
    Ok(Found {
        digest: resolved.descriptor.digest.clone(),
        name: view.metadata.name.clone(),
        version: view.metadata.version.as_ref().map(ToString::to_string),
        signers: evidence.signers(),
        parents,
        inputs,
    })
}

/// Text made safe inside XML.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// At most `max` characters, an ellipsis in the middle when cut.
fn shorten(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        return text.to_owned();
    }
    let half = max / 2;
    let head: String = chars[..half].iter().collect();
    let tail: String = chars[chars.len() - (max - half - 1)..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_places_every_node_and_escapes_every_text() {
        let node = |id: &str, name: Option<&str>| Node {
            id: id.into(),
            kind: "model".into(),
            digest: None,
            name: name.map(str::to_owned),
            version: Some("1.0.0".into()),
            state: "verified".into(),
            detail: String::new(),
        };
        let graph = Graph {
            nodes: vec![
                node("reg/a@sha256:1", Some("<script>alert(1)</script>")),
                node("reg/b@sha256:2", Some("b & \"c\"")),
            ],
            edges: vec![Edge {
                from: "reg/a@sha256:1".into(),
                to: "reg/b@sha256:2".into(),
                relation: "parent".into(),
            }],
        };
        let svg = graph.to_svg();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(!svg.contains("<script"), "{svg}");
        assert!(
            svg.contains("&lt;script&gt;") && svg.contains("b &amp; &quot;c&quot;"),
            "{svg}"
        );
        assert_eq!(svg.matches("<rect").count(), 2);
        assert_eq!(svg.matches("<line").count(), 1);
        assert_eq!(shorten("abcdefghij", 5), "ab…ij");
    }
}
