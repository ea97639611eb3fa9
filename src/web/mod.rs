//! The operator's web UI, compiled into the binary and served on the API port for every path that
//! carries no API command (manual §2, facts §1.1).
//!
//! The UI is one page: `index.html` with the style sheet and the scripts put in place of its
//! `/*STYLES*/` and `/*SCRIPTS*/` markers, so it is one answer with nothing else to fetch, and
//! every path serves the same page (the page routes on its `#` fragment). The scripts drive only
//! the public JSON API, as MistServer's own interface does (facts §2.7).
//!
//! For work on the UI itself, `EDDY_WEB_DIR=src/web` makes Eddy read the files from that folder
//! at every request instead, so a reload shows an edit without a rebuild.

use std::borrow::Cow;
use std::sync::LazyLock;

/// A file of the page: its name in this folder and the text compiled in.
type Part = (&'static str, &'static str);

const INDEX: Part = ("index.html", include_str!("index.html"));

const STYLES: &[Part] = &[
    ("ui.css", include_str!("ui.css")),
    ("streams.css", include_str!("streams.css")),
    ("push.css", include_str!("push.css")),
    ("statistics.css", include_str!("statistics.css")),
];

/// The scripts, in the order they run: the shared core first, the start-up last.
const SCRIPTS: &[Part] = &[
    ("md5.js", include_str!("md5.js")),
    ("core.js", include_str!("core.js")),
    ("chart.js", include_str!("chart.js")),
    ("login.js", include_str!("login.js")),
    ("overview.js", include_str!("overview.js")),
    ("protocols.js", include_str!("protocols.js")),
    ("streams.js", include_str!("streams.js")),
    ("preview.js", include_str!("preview.js")),
    ("push.js", include_str!("push.js")),
    ("triggers.js", include_str!("triggers.js")),
    ("logs.js", include_str!("logs.js")),
    ("statistics.js", include_str!("statistics.js")),
    ("start.js", include_str!("start.js")),
];

static PAGE: LazyLock<String> = LazyLock::new(|| assemble(|part| Some(part.1.to_string())));

/// The UI page.
pub fn page() -> Cow<'static, str> {
    match std::env::var_os("EDDY_WEB_DIR") {
        Some(dir) => {
            let dir = std::path::PathBuf::from(dir);
            Cow::Owned(assemble(|part| {
                std::fs::read_to_string(dir.join(part.0)).ok()
            }))
        }
        None => Cow::Borrowed(PAGE.as_str()),
    }
}

/// Puts the style sheets and scripts into the page; `read` gives a part's text (a part it
/// cannot give is left out with a comment saying so).
fn assemble(read: impl Fn(&Part) -> Option<String>) -> String {
    let join = |parts: &[Part]| {
        parts
            .iter()
            .map(|p| read(p).unwrap_or_else(|| format!("/* {} could not be read */", p.0)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let index = read(&INDEX).unwrap_or_else(|| INDEX.1.to_string());
    index
        .replacen("/*STYLES*/", &join(STYLES), 1)
        .replacen("/*SCRIPTS*/", &join(SCRIPTS), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_holds_every_part_once() {
        let page = page();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(!page.contains("/*STYLES*/") && !page.contains("/*SCRIPTS*/"));
        for (name, text) in STYLES.iter().chain(SCRIPTS) {
            let head: String = text.chars().take(60).collect();
            assert_eq!(page.matches(head.as_str()).count(), 1, "{name}");
        }
        // A script must not end the inline <script> element early.
        for (name, text) in SCRIPTS {
            assert!(!text.contains("</script"), "{name}");
        }
    }

    #[test]
    fn a_folder_override_reads_the_files() {
        let dir = std::env::temp_dir().join(format!("eddy-web-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("index.html"), "A/*STYLES*/B/*SCRIPTS*/C").expect("write");
        std::fs::write(dir.join("core.js"), "core();").expect("write");
        let page = assemble(|p| std::fs::read_to_string(dir.join(p.0)).ok());
        assert!(page.starts_with("A/* ui.css could not be read */"));
        assert!(page.contains("could not be read */B"));
        assert!(page.contains("core();"));
        assert!(page.ends_with("C"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
