//! Rendering for people and programs: JSON on request, aligned tables, human sizes, and
//! progress bars on a terminal (nothing when stderr is not one, or with --quiet/--json).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use modelark::progress::{Reporter, Silent};
use serde::Serialize;

/// Writes a line to stdout. Control characters other than newline and tab, and the
/// bidirectional-text controls, are escaped: text from a registry (tags, paths, messages)
/// can then neither drive the terminal nor reorder what it shows. JSON output is exact.
pub fn line(text: impl std::fmt::Display) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", escape_with(&text.to_string(), true))?;
    Ok(())
}

/// `text` with every control character (newlines too) and bidi control escaped as `\u{..}`
/// (`\n`, `\t`, `\r` for those): for one untrusted value inside a line, so it cannot
/// forge another row.
pub fn escape(text: &str) -> String {
    escape_with(text, false)
}

fn escape_with(text: &str, keep_layout: bool) -> String {
    let unsafe_char = |c: char| {
        (c.is_control() && !(keep_layout && (c == '\n' || c == '\t'))) || is_bidi_control(c)
    };
    if !text.chars().any(unsafe_char) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            _ if !unsafe_char(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            _ => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    out
}

/// Marks that reorder text on screen (Trojan Source, CVE-2021-42574).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Writes pretty JSON to stdout.
pub fn json(value: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// `1.5 GiB` style sizes.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A left-aligned table: header row plus rows, columns padded to their widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| escape(cell)).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let render = |cells: Vec<&str>| {
        let last = cells.len() - 1;
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    c.to_string()
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    line(render(header.to_vec()))?;
    for row in rows {
        line(render(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg:30!} {bar:30} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} eta {eta}",
    )
    .expect("the template is valid")
}

/// Progress bars per transfer on a terminal.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<usize, ProgressBar>>,
    total: Mutex<Option<ProgressBar>>,
}

impl Reporter for Bars {
    fn total(&self, bytes: u64) {
        let style = bar_style();
        let bar = self.multi.add(
            ProgressBar::new(bytes)
                .with_style(style)
                .with_message("total"),
        );
        *self.total.lock().expect("not poisoned") = Some(bar);
    }

    fn begin(&self, id: usize, label: &str, total: u64) {
        let style = bar_style();
        let bar = self.multi.add(
            ProgressBar::new(total)
                .with_style(style)
                .with_message(escape(label)),
        );
        self.bars.lock().expect("not poisoned").insert(id, bar);
    }

    fn advance(&self, id: usize, bytes: u64) {
        if let Some(bar) = self.bars.lock().expect("not poisoned").get(&id) {
            bar.inc(bytes);
        }
        if let Some(total) = self.total.lock().expect("not poisoned").as_ref() {
            total.inc(bytes);
        }
    }

    fn end(&self, id: usize) {
        if let Some(bar) = self.bars.lock().expect("not poisoned").remove(&id) {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        if let Some(total) = self.total.lock().expect("not poisoned").take() {
            total.finish_and_clear();
        }
    }
}

/// Bars when stderr is a terminal and output is for people; silence otherwise.
pub fn reporter(quiet: bool, json: bool) -> Arc<dyn Reporter> {
    if quiet || json || !std::io::stderr().is_terminal() {
        return Arc::new(Silent);
    }
    Arc::new(Bars {
        multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
        bars: Mutex::new(HashMap::new()),
        total: Mutex::new(None),
    })
}

/// Warns about each layer an unpack skipped (a model with no named files must not look like
/// "unpacked 0 files" and nothing else).
pub fn warn_skipped(skipped: &[String], files: usize) {
    for skipped in skipped {
        tracing::warn!("skipped layer {skipped}");
    }
    if files == 0 && !skipped.is_empty() {
        tracing::warn!(
            "no layer names a file (no {} or {} annotation): nothing was unpacked",
            modelark::media_types::ANNOTATION_FILEPATH,
            modelark::media_types::OCI_TITLE
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn terminal_controls_and_bidi_marks_are_escaped() {
        let cases = [
            ("weights.bin", "weights.bin"),
            ("a\nforged row", "a\\nforged row"),
            (
                "\u{1b}[2J\u{1b}]0;pwned\u{7}",
                "\\u{1b}[2J\\u{1b}]0;pwned\\u{7}",
            ),
            ("nul\0byte", "nul\\u{0}byte"),
            ("cr\rover", "cr\\rover"),
            ("abc\u{202e}gpj.exe", "abc\\u{202e}gpj.exe"),
            ("\u{2066}isolate\u{2069}", "\\u{2066}isolate\\u{2069}"),
            ("c1\u{9b}31m", "c1\\u{9b}31m"),
            ("ünïcödé ok", "ünïcödé ok"),
        ];
        for (input, escaped) in cases {
            assert_eq!(escape(input), escaped, "{input:?}");
        }
        // Whole lines keep their own layout, nothing else.
        assert_eq!(escape_with("a\tb\nc\u{1b}", true), "a\tb\nc\\u{1b}");
    }
}
