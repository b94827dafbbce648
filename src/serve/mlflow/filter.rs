//! MLflow's search filter language, as its model registry accepts it: clauses joined by
//! `AND`, each `KEY OP VALUE`, where `KEY` is an attribute (`name`, `version_number`,
//! `run_id`, `source_path`) or `tags.<key>` (the key bare, quoted or in backticks), `OP`
//! is `=`, `!=`, `<`, `<=`, `>`, `>=`, `LIKE`, `ILIKE`, `IN` or `NOT IN`, and `VALUE` a
//! quoted string, a number or a parenthesised list of them.

/// What a clause compares.
#[derive(Clone, Debug, PartialEq)]
pub enum Key {
    /// An attribute by its name.
    Attribute(String),
    /// `tags.<key>`.
    Tag(String),
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    In,
    NotIn,
}

/// One `KEY OP VALUE`.
#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    pub key: Key,
    pub op: Op,
    pub values: Vec<String>,
}

/// A parsed filter: every clause must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub clauses: Vec<Clause>,
}

/// What a filter is matched against.
pub trait Subject {
    /// An attribute's value (`None`: the subject has no such attribute value).
    fn attribute(&self, name: &str) -> Option<String>;
    /// A tag's value.
    fn tag(&self, key: &str) -> Option<String>;
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Symbol(&'static str),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' || c == '`' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated {c}quoted{c} value")),
                    // A doubled quote is a quote.
                    Some(&q) if q == c && chars.get(i + 1) == Some(&c) => {
                        value.push(c);
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            out.push(Token::Quoted(value));
        } else if let Some(symbol) = ["!=", "<=", ">=", "==", "=", "<", ">", "(", ")", ","]
            .into_iter()
            .find(|s| chars[i..].starts_with(&s.chars().collect::<Vec<_>>()))
        {
            out.push(Token::Symbol(if symbol == "==" { "=" } else { symbol }));
            i += symbol.len();
        } else if c.is_alphanumeric() || "_.-+:".contains(c) {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_.-+:".contains(chars[i])) {
                i += 1;
            }
            // `tags.` before a quoted key stays a word of its own; the parser joins them.
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            return Err(format!("unexpected character {c:?}"));
        }
    }
    Ok(out)
}

/// Parses `text`; `attributes` are the attribute names this search accepts.
///
/// # Errors
/// A message naming what is wrong, for MLflow's `INVALID_PARAMETER_VALUE`.
pub fn parse(text: &str, attributes: &[&str]) -> Result<Filter, String> {
    let tokens = tokens(text)?;
    let mut clauses = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        let key = match &tokens[at] {
            Token::Word(w) if tag_prefix(w).is_some_and(|k| !k.is_empty()) => {
                Key::Tag(tag_prefix(w).unwrap_or_default().to_owned())
            }
            Token::Word(w) if tag_prefix(w).is_some() => {
                at += 1;
                match tokens.get(at) {
                    Some(Token::Quoted(k)) => Key::Tag(k.clone()),
                    _ => return Err("tags. must be followed by a key".into()),
                }
            }
            Token::Word(w) => {
                let name = w
                    .strip_prefix("attributes.")
                    .or_else(|| w.strip_prefix("attribute."))
                    .unwrap_or(w);
                if !attributes.contains(&name) {
                    return Err(format!(
                        "invalid attribute key {w:?}: use {} or tags.<key>",
                        attributes.join(", ")
                    ));
                }
                Key::Attribute(name.to_owned())
            }
            other => return Err(format!("expected a key, found {}", show(other))),
        };
        at += 1;
        let op = match tokens.get(at) {
            Some(Token::Symbol("=")) => Op::Eq,
            Some(Token::Symbol("!=")) => Op::Ne,
            Some(Token::Symbol("<")) => Op::Lt,
            Some(Token::Symbol("<=")) => Op::Le,
            Some(Token::Symbol(">")) => Op::Gt,
            Some(Token::Symbol(">=")) => Op::Ge,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("like") => Op::Like,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("ilike") => Op::ILike,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => Op::In,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("not") => {
                at += 1;
                match tokens.get(at) {
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("in") => Op::NotIn,
                    _ => return Err("NOT must be followed by IN".into()),
                }
            }
            Some(other) => return Err(format!("expected a comparator, found {}", show(other))),
            None => return Err("the filter ends before a comparator".into()),
        };
        at += 1;
        let values = if matches!(op, Op::In | Op::NotIn) {
            if tokens.get(at) != Some(&Token::Symbol("(")) {
                return Err("IN takes a list: ('a', 'b')".into());
            }
            at += 1;
            let mut values = Vec::new();
            loop {
                match tokens.get(at) {
                    Some(Token::Quoted(v)) => values.push(v.clone()),
                    Some(Token::Word(v)) if v.parse::<f64>().is_ok() => values.push(v.clone()),
                    _ => return Err("IN lists hold quoted strings or numbers".into()),
                }
                at += 1;
                match tokens.get(at) {
                    Some(Token::Symbol(",")) => at += 1,
                    Some(Token::Symbol(")")) => break,
                    _ => return Err("an IN list ends with )".into()),
                }
            }
            at += 1;
            values
        } else {
            let value = match tokens.get(at) {
                Some(Token::Quoted(v)) => v.clone(),
                Some(Token::Word(v)) if v.parse::<f64>().is_ok() => v.clone(),
                Some(other) => {
                    return Err(format!(
                        "expected a quoted value or a number, found {}",
                        show(other)
                    ));
                }
                None => return Err("the filter ends before a value".into()),
            };
            at += 1;
            vec![value]
        };
        clauses.push(Clause { key, op, values });
        match tokens.get(at) {
            None => {}
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("and") => {
                at += 1;
                if at == tokens.len() {
                    return Err("the filter ends after AND".into());
                }
            }
            Some(other) => {
                return Err(format!(
                    "clauses are joined by AND (OR is not supported), found {}",
                    show(other)
                ));
            }
        }
    }
    Ok(Filter { clauses })
}

/// The key after `tags.` (or MLflow's synonym `tag.`), any case.
fn tag_prefix(word: &str) -> Option<&str> {
    ["tags.", "tag."].into_iter().find_map(|p| {
        let head = word.get(..p.len())?;
        head.eq_ignore_ascii_case(p).then(|| &word[p.len()..])
    })
}

fn show(token: &Token) -> String {
    match token {
        Token::Word(w) => format!("{w:?}"),
        Token::Quoted(q) => format!("'{q}'"),
        Token::Symbol(s) => format!("{s:?}"),
    }
}

impl Filter {
    /// Whether every clause holds for `subject`.
    pub fn matches(&self, subject: &dyn Subject) -> bool {
        self.clauses.iter().all(|c| c.matches(subject))
    }

    /// The value an `attribute = VALUE` clause pins, if one does (a search can then look
    /// the subject up instead of scanning).
    pub fn pinned(&self, attribute: &str) -> Option<&str> {
        self.clauses.iter().find_map(|c| match (&c.key, c.op) {
            (Key::Attribute(a), Op::Eq) if a == attribute => Some(c.values[0].as_str()),
            _ => None,
        })
    }
}

impl Clause {
    fn matches(&self, subject: &dyn Subject) -> bool {
        let actual = match &self.key {
            Key::Attribute(name) => subject.attribute(name),
            Key::Tag(key) => subject.tag(key),
        };
        let Some(actual) = actual else {
            // MLflow: a missing value matches only a negation.
            return matches!(self.op, Op::Ne | Op::NotIn);
        };
        let value = self.values[0].as_str();
        let numeric = |f: fn(f64, f64) -> bool| match (actual.parse::<f64>(), value.parse::<f64>())
        {
            (Ok(a), Ok(b)) => f(a, b),
            _ => false,
        };
        match self.op {
            Op::Eq => actual == value || numeric(|a, b| a == b),
            Op::Ne => actual != value && !numeric(|a, b| a == b),
            Op::Lt => numeric(|a, b| a < b),
            Op::Le => numeric(|a, b| a <= b),
            Op::Gt => numeric(|a, b| a > b),
            Op::Ge => numeric(|a, b| a >= b),
            Op::Like => like(&actual, value),
            Op::ILike => like(&actual.to_lowercase(), &value.to_lowercase()),
            Op::In => self.values.contains(&actual),
            Op::NotIn => !self.values.contains(&actual),
        }
    }
}

/// SQL `LIKE`: `%` is any run of characters, `_` any one.
pub fn like(text: &str, pattern: &str) -> bool {
    let (t, p): (Vec<char>, Vec<char>) = (text.chars().collect(), pattern.chars().collect());
    // Greedy matching with one backtrack point per `%`: linear in practice, never
    // exponential.
    let (mut ti, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Model(&'static str, &'static [(&'static str, &'static str)]);

    impl Subject for Model {
        fn attribute(&self, name: &str) -> Option<String> {
            (name == "name").then(|| self.0.to_owned())
        }
        fn tag(&self, key: &str) -> Option<String> {
            self.1
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn filters_parse_and_match_as_mlflow_documents_them() {
        let bert = Model("bert", &[("task", "fill-mask"), ("metrics.f1", "0.91")]);
        let gpt = Model("GPT-small", &[("task", "text-generation")]);
        let cases = [
            ("name = 'bert'", true, false),
            ("name != 'bert'", false, true),
            ("name LIKE 'b%'", true, false),
            ("name LIKE 'B%'", false, false),
            ("name ILIKE 'gpt%'", false, true),
            ("name like '%_small'", false, true),
            ("tags.task = 'fill-mask'", true, false),
            ("tags.`task` = \"text-generation\"", false, true),
            ("tags.\"metrics.f1\" >= 0.9", true, false),
            ("tags.missing != 'x'", true, true),
            ("tag.`mlflow.prompt.is_prompt` != 'true'", true, true),
            ("tags.missing = 'x'", false, false),
            ("name = 'bert' AND tags.task LIKE 'fill%'", true, false),
            ("name IN ('bert', 'other')", true, false),
            ("name NOT IN ('bert')", false, true),
            ("name = 'it''s'", false, false),
            ("", true, true),
        ];
        for (text, on_bert, on_gpt) in cases {
            let filter = parse(text, &["name"]).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (filter.matches(&bert), filter.matches(&gpt)),
                (on_bert, on_gpt),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let cases = [
            ("name = bert", "quoted value"),
            ("name = 'bert' OR name = 'x'", "OR is not supported"),
            ("owner = 'x'", "invalid attribute key"),
            ("name 'x'", "comparator"),
            ("name = 'x", "unterminated"),
            ("name IN 'x'", "IN takes a list"),
            ("name = 'x' AND", "ends after AND"),
            ("name ~ 'x'", "unexpected character"),
        ];
        for (text, expected) in cases {
            let error = parse(text, &["name"]).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn like_matches_sql_wildcards_without_backtracking_blowup() {
        assert!(like("abc", "a%c"));
        assert!(like("abc", "%"));
        assert!(like("", "%"));
        assert!(!like("abc", "a_"));
        assert!(like("aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "%a%a%a%a%a%a%a%b"));
        assert!(!like(
            &"a".repeat(10_000),
            &"%a".repeat(50).replace("a%a", "a%b")
        ));
    }
}
