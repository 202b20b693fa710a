//! Splitting a file into chunks along natural boundaries: a new top-level
//! definition (function, class, impl, …) starts a chunk when the current one
//! has grown enough; anything longer than the window is cut into windows
//! that overlap, so a match near a cut is found in both.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// 1-based, inclusive.
    pub start_line: usize,
    pub end_line: usize,
    pub text: String,
}

/// Whether a line starts a top-level definition in common languages.
fn starts_definition(line: &str) -> bool {
    if line.starts_with([' ', '\t']) || line.trim().is_empty() {
        return false;
    }
    const STARTS: &[&str] = &[
        "fn ",
        "pub fn ",
        "pub(crate) fn ",
        "async fn ",
        "pub async fn ",
        "impl ",
        "impl<",
        "struct ",
        "pub struct ",
        "enum ",
        "pub enum ",
        "trait ",
        "pub trait ",
        "mod ",
        "pub mod ",
        "def ",
        "async def ",
        "class ",
        "func ",
        "type ",
        "function ",
        "export ",
        "const ",
        "let ",
        "local function ",
        "interface ",
        "public ",
        "private ",
        "protected ",
        "#[",
        "@",
        "## ",
        "# ",
    ];
    STARTS.iter().any(|s| line.starts_with(s))
}

/// Chunks of at most `max_lines` lines (windows overlap by `overlap`).
pub fn chunk(text: &str, max_lines: usize, overlap: usize) -> Vec<Chunk> {
    let max_lines = max_lines.max(2);
    let overlap = overlap.min(max_lines / 2);
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return Vec::new();
    }
    // Cut points: definition starts, once a piece has a third of the window.
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    let mut start = 0;
    for (i, line) in lines.iter().enumerate().skip(1) {
        if starts_definition(line) && i - start >= max_lines / 3 {
            pieces.push((start, i));
            start = i;
        }
    }
    pieces.push((start, lines.len()));
    // Pieces longer than the window become overlapping windows.
    let mut out = Vec::new();
    for (a, b) in pieces {
        let mut s = a;
        loop {
            let e = (s + max_lines).min(b);
            let body = lines[s..e].join("\n");
            if !body.trim().is_empty() {
                out.push(Chunk {
                    start_line: s + 1,
                    end_line: e,
                    text: body,
                });
            }
            if e >= b {
                break;
            }
            s = e - overlap;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_start_chunks() {
        let src = "use x;\n\nfn a() {\n  1\n}\n\nfn b() {\n  2\n}\n";
        let c = chunk(src, 6, 1);
        assert_eq!(c.len(), 3, "{c:?}");
        assert_eq!((c[0].start_line, c[0].end_line), (1, 2));
        assert!(c[1].text.starts_with("fn a()"), "{c:?}");
        assert!(c[2].text.starts_with("fn b()"), "{c:?}");
        assert_eq!((c[2].start_line, c[2].end_line), (7, 9));
    }

    #[test]
    fn long_pieces_become_overlapping_windows_covering_every_line() {
        let src: String = (1..=25).map(|i| format!("  line {i}\n")).collect();
        let c = chunk(&src, 10, 2);
        assert_eq!(c[0].start_line, 1);
        assert_eq!(c[0].end_line, 10);
        assert_eq!(c[1].start_line, 9);
        assert_eq!(c.last().unwrap().end_line, 25);
        for w in c.windows(2) {
            assert!(w[1].start_line <= w[0].end_line + 1, "no gap: {c:?}");
        }
    }

    #[test]
    fn empty_and_blank_files_have_no_chunks() {
        assert!(chunk("", 10, 2).is_empty());
        assert!(chunk("\n\n  \n", 10, 2).is_empty());
    }
}
