//! Lua 5.4's string patterns (`lstrlib.c`), ported so that a match can be
//! stopped. Lua's own matcher is C that backtracks without ever returning
//! to the VM, so neither the instruction hook nor Ctrl-C reaches it, and
//! `("x"):rep(100):find(("x*"):rep(50).."y")` runs for longer than the
//! universe has left. This one calls a budget every few thousand steps,
//! which charges the script's operation limit and checks its clock.
//!
//! The port follows the C function by function (same errors, same results,
//! bytes not characters); the tests compare it with the C original.

use std::ops::Range;

const MAXCCALLS: usize = 200;
const MAXCAPTURES: usize = 32;
const CAP_UNFINISHED: isize = -1;
const CAP_POSITION: isize = -2;
const L_ESC: u8 = b'%';
const SPECIALS: &[u8] = b"^$*+?.([%-";
/// Steps between two calls of the budget.
pub const STEPS_PER_CHECK: u64 = 4096;

#[derive(Debug, Clone, PartialEq)]
pub enum PatternError {
    /// A malformed pattern or a bad capture: Lua's own message.
    Lua(String),
    /// The budget said stop (time or operation limit, Ctrl-C).
    Stopped,
}

type PResult<T> = Result<T, PatternError>;

fn lua_err<T>(msg: impl Into<String>) -> PResult<T> {
    Err(PatternError::Lua(msg.into()))
}

/// One captured value: text (a byte range of the subject) or a position
/// capture `()` (1-based, as Lua gives it).
#[derive(Debug, Clone, PartialEq)]
pub enum Capture {
    Text(Range<usize>),
    Position(usize),
}

pub struct Matcher<'a> {
    src: &'a [u8],
    pat: &'a [u8],
    depth: usize,
    level: usize,
    capture: [(usize, isize); MAXCAPTURES],
    steps: u64,
    budget: &'a mut dyn FnMut(u64) -> bool,
}

fn match_class(c: u8, cl: u8) -> bool {
    let res = match cl.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'g' => c.is_ascii_graphic(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        // C's isspace: also vertical tab, which Rust's is_ascii_whitespace leaves out.
        b's' => matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        b'z' => c == 0,
        _ => return cl == c,
    };
    if cl.is_ascii_lowercase() {
        res
    } else {
        !res
    }
}

impl<'a> Matcher<'a> {
    /// `budget(steps)` is called every [`STEPS_PER_CHECK`] steps; false stops the match.
    pub fn new(src: &'a [u8], pat: &'a [u8], budget: &'a mut dyn FnMut(u64) -> bool) -> Self {
        Matcher {
            src,
            pat,
            depth: MAXCCALLS,
            level: 0,
            capture: [(0, 0); MAXCAPTURES],
            steps: 0,
            budget,
        }
    }

    /// C strings end in a NUL that the matcher reads past the end.
    fn p_at(&self, i: usize) -> u8 {
        self.pat.get(i).copied().unwrap_or(0)
    }

    fn s_at(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(0)
    }

    fn step(&mut self) -> PResult<()> {
        self.steps += 1;
        if self.steps.is_multiple_of(STEPS_PER_CHECK) && !(self.budget)(STEPS_PER_CHECK) {
            return Err(PatternError::Stopped);
        }
        Ok(())
    }

    /// Steps not yet charged to the budget (call once a match is over).
    pub fn settle(&mut self) -> PResult<()> {
        let left = self.steps % STEPS_PER_CHECK;
        self.steps -= left;
        if left > 0 && !(self.budget)(left) {
            return Err(PatternError::Stopped);
        }
        Ok(())
    }

    fn check_capture(&self, l: u8) -> PResult<usize> {
        let l = l as isize - b'1' as isize;
        if l < 0 || l as usize >= self.level || self.capture[l as usize].1 == CAP_UNFINISHED {
            return lua_err(format!("invalid capture index %{}", l + 1));
        }
        Ok(l as usize)
    }

    fn capture_to_close(&self) -> PResult<usize> {
        (0..self.level)
            .rev()
            .find(|&l| self.capture[l].1 == CAP_UNFINISHED)
            .map_or_else(|| lua_err("invalid pattern capture"), Ok)
    }

    fn classend(&self, mut p: usize) -> PResult<usize> {
        let c = self.p_at(p);
        p += 1;
        match c {
            L_ESC => {
                if p >= self.pat.len() {
                    return lua_err("malformed pattern (ends with '%')");
                }
                Ok(p + 1)
            }
            b'[' => {
                if self.p_at(p) == b'^' {
                    p += 1;
                }
                loop {
                    if p >= self.pat.len() {
                        return lua_err("malformed pattern (missing ']')");
                    }
                    let c = self.pat[p];
                    p += 1;
                    if c == L_ESC && p < self.pat.len() {
                        p += 1;
                    }
                    if self.p_at(p) == b']' {
                        break;
                    }
                }
                Ok(p + 1)
            }
            _ => Ok(p),
        }
    }

    /// `p` is at the '[', `ec` at the closing ']'.
    fn matchbracketclass(&self, c: u8, mut p: usize, ec: usize) -> bool {
        let mut sig = true;
        if self.p_at(p + 1) == b'^' {
            sig = false;
            p += 1;
        }
        loop {
            p += 1;
            if p >= ec {
                break;
            }
            if self.pat[p] == L_ESC {
                p += 1;
                if match_class(c, self.p_at(p)) {
                    return sig;
                }
            } else if self.p_at(p + 1) == b'-' && p + 2 < ec {
                p += 2;
                if self.pat[p - 2] <= c && c <= self.pat[p] {
                    return sig;
                }
            } else if self.pat[p] == c {
                return sig;
            }
        }
        !sig
    }

    fn singlematch(&self, s: usize, p: usize, ep: usize) -> bool {
        if s >= self.src.len() {
            return false;
        }
        let c = self.src[s];
        match self.pat[p] {
            b'.' => true,
            L_ESC => match_class(c, self.p_at(p + 1)),
            b'[' => self.matchbracketclass(c, p, ep - 1),
            pc => pc == c,
        }
    }

    fn matchbalance(&mut self, s: usize, p: usize) -> PResult<Option<usize>> {
        if p + 1 >= self.pat.len() {
            return lua_err("malformed pattern (missing arguments to '%b')");
        }
        if self.s_at(s) != self.pat[p] {
            return Ok(None);
        }
        let (b, e) = (self.pat[p], self.pat[p + 1]);
        let mut cont = 1;
        let mut s = s + 1;
        while s < self.src.len() {
            self.step()?;
            let c = self.src[s];
            if c == e {
                cont -= 1;
                if cont == 0 {
                    return Ok(Some(s + 1));
                }
            } else if c == b {
                cont += 1;
            }
            s += 1;
        }
        Ok(None)
    }

    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> PResult<Option<usize>> {
        let mut i = 0;
        while self.singlematch(s + i, p, ep) {
            self.step()?;
            i += 1;
        }
        loop {
            if let Some(res) = self.do_match(s + i, ep + 1)? {
                return Ok(Some(res));
            }
            if i == 0 {
                return Ok(None);
            }
            i -= 1;
        }
    }

    fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> PResult<Option<usize>> {
        loop {
            if let Some(res) = self.do_match(s, ep + 1)? {
                return Ok(Some(res));
            }
            if self.singlematch(s, p, ep) {
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, what: isize) -> PResult<Option<usize>> {
        if self.level >= MAXCAPTURES {
            return lua_err("too many captures");
        }
        self.capture[self.level] = (s, what);
        self.level += 1;
        let res = self.do_match(s, p)?;
        if res.is_none() {
            self.level -= 1;
        }
        Ok(res)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> PResult<Option<usize>> {
        let l = self.capture_to_close()?;
        self.capture[l].1 = (s - self.capture[l].0) as isize;
        let res = self.do_match(s, p)?;
        if res.is_none() {
            self.capture[l].1 = CAP_UNFINISHED;
        }
        Ok(res)
    }

    fn match_capture(&self, s: usize, l: u8) -> PResult<Option<usize>> {
        let l = self.check_capture(l)?;
        let (init, len) = self.capture[l];
        // A position capture has no text: C compares a huge unsigned length.
        if len < 0 {
            return Ok(None);
        }
        let len = len as usize;
        if self.src.len() - s >= len && self.src[init..init + len] == self.src[s..s + len] {
            Ok(Some(s + len))
        } else {
            Ok(None)
        }
    }

    fn do_match(&mut self, mut s: usize, mut p: usize) -> PResult<Option<usize>> {
        if self.depth == 0 {
            return lua_err("pattern too complex");
        }
        self.depth -= 1;
        let result = loop {
            self.step()?;
            if p == self.pat.len() {
                break Some(s);
            }
            match self.pat[p] {
                b'(' => {
                    break if self.p_at(p + 1) == b')' {
                        self.start_capture(s, p + 2, CAP_POSITION)?
                    } else {
                        self.start_capture(s, p + 1, CAP_UNFINISHED)?
                    }
                }
                b')' => break self.end_capture(s, p + 1)?,
                b'$' if p + 1 == self.pat.len() => {
                    break (s == self.src.len()).then_some(s);
                }
                L_ESC => match self.p_at(p + 1) {
                    b'b' => match self.matchbalance(s, p + 2)? {
                        Some(ns) => {
                            s = ns;
                            p += 4;
                            continue;
                        }
                        None => break None,
                    },
                    b'f' => {
                        p += 2;
                        if self.p_at(p) != b'[' {
                            return lua_err("missing '[' after '%f' in pattern");
                        }
                        let ep = self.classend(p)?;
                        let previous = if s == 0 { 0 } else { self.src[s - 1] };
                        if !self.matchbracketclass(previous, p, ep - 1)
                            && self.matchbracketclass(self.s_at(s), p, ep - 1)
                        {
                            p = ep;
                            continue;
                        }
                        break None;
                    }
                    d @ b'0'..=b'9' => match self.match_capture(s, d)? {
                        Some(ns) => {
                            s = ns;
                            p += 2;
                            continue;
                        }
                        None => break None,
                    },
                    _ => {}
                },
                _ => {}
            }
            // A single-character class with an optional suffix.
            let ep = self.classend(p)?;
            let suffix = self.p_at(ep);
            if !self.singlematch(s, p, ep) {
                if matches!(suffix, b'*' | b'?' | b'-') {
                    p = ep + 1;
                    continue;
                }
                break None;
            }
            match suffix {
                b'?' => {
                    if let Some(res) = self.do_match(s + 1, ep + 1)? {
                        break Some(res);
                    }
                    p = ep + 1;
                }
                b'+' => break self.max_expand(s + 1, p, ep)?,
                b'*' => break self.max_expand(s, p, ep)?,
                b'-' => break self.min_expand(s, p, ep)?,
                _ => {
                    s += 1;
                    p = ep;
                }
            }
        };
        self.depth += 1;
        Ok(result)
    }

    /// The match that ended at `e` after starting at `s`, with its captures.
    fn found(&self, s: usize, e: usize) -> Match {
        Match {
            range: s..e,
            slots: self.capture[..self.level].to_vec(),
        }
    }

    /// Try a match starting exactly at `s`.
    pub fn match_at(&mut self, s: usize, p: usize) -> PResult<Option<usize>> {
        self.level = 0;
        self.do_match(s, p)
    }
}

/// A successful match: its range in the subject and its capture slots,
/// read the way Lua reads them (lazily: an unfinished capture is an error
/// only when asked for).
#[derive(Debug, Clone)]
pub struct Match {
    pub range: Range<usize>,
    slots: Vec<(usize, isize)>,
}

impl Match {
    /// Capture `i`; with no captures, capture 0 is the whole match.
    pub fn capture(&self, i: usize) -> PResult<Capture> {
        let Some(&(init, len)) = self.slots.get(i) else {
            return if i == 0 {
                Ok(Capture::Text(self.range.clone()))
            } else {
                lua_err(format!("invalid capture index %{}", i + 1))
            };
        };
        match len {
            CAP_UNFINISHED => lua_err("unfinished capture"),
            CAP_POSITION => Ok(Capture::Position(init + 1)),
            len => Ok(Capture::Text(init..init + len as usize)),
        }
    }

    /// All captures, or the whole match if there are none (`string.match`,
    /// `gmatch`, a gsub function's arguments).
    pub fn captures(&self) -> PResult<Vec<Capture>> {
        (0..self.slots.len().max(1))
            .map(|i| self.capture(i))
            .collect()
    }

    /// The captures alone (what `string.find` adds after the bounds).
    pub fn explicit_captures(&self) -> PResult<Vec<Capture>> {
        (0..self.slots.len()).map(|i| self.capture(i)).collect()
    }
}

/// Whether `p` has no magic characters (then `find` is a plain search).
pub fn no_specials(p: &[u8]) -> bool {
    !p.iter().any(|c| SPECIALS.contains(c))
}

/// Lua's `posrelatI`: a 1-based start position, negative from the end.
pub fn start_index(pos: i64, len: usize) -> usize {
    if pos > 0 {
        pos as usize
    } else if pos == 0 || pos < -(len as i64) {
        1
    } else {
        (len as i64 + pos + 1) as usize
    }
}

/// What `string.find` (`find`) or `string.match` (not `find`) returns: the
/// match's 1-based bounds (find only) and its captures; `None` for nil.
pub struct Found {
    pub bounds: Option<(usize, usize)>,
    pub captures: Vec<Capture>,
}

pub fn find(
    s: &[u8],
    p: &[u8],
    init: i64,
    plain: bool,
    want_bounds: bool,
    budget: &mut dyn FnMut(u64) -> bool,
) -> PResult<Option<Found>> {
    let init = start_index(init, s.len()) - 1;
    if init > s.len() {
        return Ok(None);
    }
    if want_bounds && (plain || no_specials(p)) {
        // A plain search is linear: no budget needed beyond the subject's size.
        let found = if p.is_empty() {
            Some(init)
        } else {
            s[init..]
                .windows(p.len())
                .position(|w| w == p)
                .map(|i| i + init)
        };
        return Ok(found.map(|at| Found {
            bounds: Some((at + 1, at + p.len())),
            captures: Vec::new(),
        }));
    }
    let (anchor, pstart) = if p.first() == Some(&b'^') {
        (true, 1)
    } else {
        (false, 0)
    };
    let mut m = Matcher::new(s, p, budget);
    let mut s1 = init;
    loop {
        if let Some(e) = m.match_at(s1, pstart)? {
            m.settle()?;
            let found = m.found(s1, e);
            return Ok(Some(if want_bounds {
                Found {
                    bounds: Some((s1 + 1, e)),
                    captures: found.explicit_captures()?,
                }
            } else {
                Found {
                    bounds: None,
                    captures: found.captures()?,
                }
            }));
        }
        s1 += 1;
        if anchor || s1 > s.len() {
            break;
        }
    }
    m.settle()?;
    Ok(None)
}

/// One step of `string.gmatch`: the next match at or after `from` that does
/// not end where the last one did.
pub fn gmatch_next(
    s: &[u8],
    p: &[u8],
    from: usize,
    last_end: Option<usize>,
    budget: &mut dyn FnMut(u64) -> bool,
) -> PResult<Option<Match>> {
    gsub_next(s, p, from, last_end, false, budget)
}

/// One step of `string.gsub` (and gmatch): from `from`, the first match
/// that does not end where the last one did; Lua keeps the characters
/// before it unchanged. `anchor` tries `from` only; `p` is without its '^'.
pub fn gsub_next(
    s: &[u8],
    p: &[u8],
    from: usize,
    last_end: Option<usize>,
    anchor: bool,
    budget: &mut dyn FnMut(u64) -> bool,
) -> PResult<Option<Match>> {
    let mut m = Matcher::new(s, p, budget);
    let mut src = from;
    while src <= s.len() {
        if let Some(e) = m.match_at(src, 0)? {
            if Some(e) != last_end {
                m.settle()?;
                return Ok(Some(m.found(src, e)));
            }
        }
        if anchor {
            break;
        }
        src += 1;
    }
    m.settle()?;
    Ok(None)
}

/// A gsub replacement string with `%0`..`%9` and `%%` expanded for a match.
pub fn expand_replacement(repl: &[u8], s: &[u8], found: &Match) -> PResult<Vec<u8>> {
    let mut out = Vec::with_capacity(repl.len());
    let mut i = 0;
    while i < repl.len() {
        let c = repl[i];
        i += 1;
        if c != L_ESC {
            out.push(c);
            continue;
        }
        let d = repl.get(i).copied().unwrap_or(0);
        i += 1;
        match d {
            L_ESC => out.push(L_ESC),
            b'0' => out.extend_from_slice(&s[found.range.clone()]),
            b'1'..=b'9' => match found.capture((d - b'1') as usize)? {
                Capture::Text(r) => out.extend_from_slice(&s[r]),
                Capture::Position(n) => out.extend_from_slice(n.to_string().as_bytes()),
            },
            _ => return lua_err("invalid use of '%' in replacement string"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlimited(_: u64) -> bool {
        true
    }

    fn find_str(s: &str, p: &str) -> Option<(usize, usize)> {
        find(s.as_bytes(), p.as_bytes(), 1, false, true, &mut unlimited)
            .unwrap()
            .and_then(|f| f.bounds)
    }

    #[test]
    fn finds_like_lua() {
        assert_eq!(find_str("hello world", "o w"), Some((5, 7)));
        assert_eq!(find_str("hello", "l+"), Some((3, 4)));
        assert_eq!(find_str("  trim  ", "^%s*(.-)%s*$"), Some((1, 8)));
        assert_eq!(find_str("abc", "^b"), None);
        assert_eq!(find_str("THE (quick) fox", "%((%a+)%)"), Some((5, 11)));
        assert_eq!(find_str("f(a(b)c)", "%b()"), Some((2, 8)));
        assert_eq!(find_str("THE (quick) fox", "%f[%a]%a+%f[%A]"), Some((1, 3)));
        assert_eq!(find_str("", ""), Some((1, 0)));
    }

    #[test]
    fn malformed_patterns_get_luas_messages() {
        for (p, msg) in [
            ("%", "malformed pattern (ends with '%')"),
            ("[a", "malformed pattern (missing ']')"),
            ("(a", "unfinished capture"),
            ("a)", "invalid pattern capture"),
            ("%1", "invalid capture index %1"),
            ("%b", "malformed pattern (missing arguments to '%b')"),
            ("%fa", "missing '[' after '%f' in pattern"),
        ] {
            let e = find(b"abc", p.as_bytes(), 1, false, false, &mut unlimited).err();
            assert_eq!(e, Some(PatternError::Lua(msg.into())), "{p}");
        }
    }

    #[test]
    fn a_catastrophic_pattern_is_stopped_by_its_budget() {
        let s = "x".repeat(100);
        let p = format!("{}y", "x*".repeat(50));
        let mut spent = 0u64;
        let mut budget = |n: u64| {
            spent += n;
            spent < 10_000_000
        };
        let r = find(s.as_bytes(), p.as_bytes(), 1, false, true, &mut budget);
        assert_eq!(r.err(), Some(PatternError::Stopped));
    }

    /// The port against the C original, on patterns that exercise every
    /// branch: the same results and the same errors.
    #[test]
    fn agrees_with_lua_itself() {
        let lua = mlua::Lua::new();
        let subjects = [
            "",
            "hello world",
            "  padded  ",
            "key = value; other=2",
            "THE (quick) [brown] fox",
            "aaa\0bbb",
            "x=1, y=22, z=333",
            "f(a(b)c) g(h)",
            "tab\there\x0bvt",
            "ünïcode bytes",
        ];
        let patterns = [
            "",
            "o",
            "^h",
            "d$",
            "l+",
            "l*",
            "l-",
            "l?o",
            ".-",
            "^%s*(.-)%s*$",
            "(%w+)=(%w+)",
            "(%w+)%s*=%s*(%w+)",
            "%((%a+)%)",
            "%b()",
            "%f[%a]%a+",
            "%f[%w]%w+%f[%W]",
            "[%a_][%w_]*",
            "[^%s]+",
            "[]]",
            "[a-c]+",
            "[%]]",
            "()ll()",
            "(l)(l)",
            "(h)(.)%2",
            "%d+",
            "%x+",
            "%S+",
            "%p",
            "%c",
            "%g+",
            "%u+",
            "%l+",
            "[^]]",
            "a\0b",
            "%z",
            "%s",
            "()",
            "(a*(.)%w(%s*))",
            "$",
            "^$",
            "[%d,]+",
            "[a-]",
            "%.",
            "x*y*z*",
            "(%d)(%d?)(%d?)",
        ];
        let lfind: mlua::Function = lua.load("string.find").eval().unwrap();
        let lmatch: mlua::Function = lua.load("string.match").eval().unwrap();
        let show = |v: &mlua::Value| match v {
            mlua::Value::String(s) => format!("s:{}", s.to_string_lossy()),
            mlua::Value::Integer(i) => format!("i:{i}"),
            mlua::Value::Nil => "nil".into(),
            other => format!("{other:?}"),
        };
        let render = |s: &str, caps: &[Capture]| -> Vec<String> {
            caps.iter()
                .map(|c| match c {
                    Capture::Text(r) => {
                        format!("s:{}", String::from_utf8_lossy(&s.as_bytes()[r.clone()]))
                    }
                    Capture::Position(n) => format!("i:{n}"),
                })
                .collect()
        };
        for s in subjects {
            for p in patterns {
                for init in [1i64, 3, -2] {
                    for (want_bounds, f) in [(true, &lfind), (false, &lmatch)] {
                        let c: Result<mlua::MultiValue, _> = f.call((s, p, init));
                        let mine = find(
                            s.as_bytes(),
                            p.as_bytes(),
                            init,
                            false,
                            want_bounds,
                            &mut unlimited,
                        );
                        match (c, mine) {
                            (Ok(vals), Ok(found)) => {
                                let theirs: Vec<String> = vals.iter().map(show).collect();
                                let ours: Vec<String> = match found {
                                    None => vec!["nil".into()],
                                    Some(f) => {
                                        let mut v = Vec::new();
                                        if let Some((a, b)) = f.bounds {
                                            v.push(format!("i:{a}"));
                                            v.push(format!("i:{b}"));
                                        }
                                        v.extend(render(s, &f.captures));
                                        v
                                    }
                                };
                                assert_eq!(ours, theirs, "{s:?} {p:?} {init} find={want_bounds}");
                            }
                            (Err(e), Err(PatternError::Lua(m))) => {
                                assert!(e.to_string().contains(&m), "{s:?} {p:?}: {e} vs {m}");
                            }
                            (c, mine) => {
                                panic!("{s:?} {p:?} {init}: C {c:?}, port {:?}", mine.err())
                            }
                        }
                    }
                }
            }
        }
    }
}
