//! Cron lines as people write them (five fields, minute first, weekdays
//! 0–7 with Sunday as 0 or 7, as in crontab(5); or six with seconds first),
//! checked field by field so a mistake is named in the user's own terms and
//! pointed at in the user's own line, then handed to the `cron` crate in the
//! form it wants: seconds first, weekdays as names (it counts 1 = Sunday,
//! so a plain `1` would fire on Sundays instead of Mondays).

use std::str::FromStr;

struct Field {
    /// What the field is called in messages.
    name: &'static str,
    min: u32,
    max: u32,
    /// Names for values, the first naming `names_from`.
    names: &'static [&'static str],
    names_from: u32,
}

const SECOND: Field = Field {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
    names_from: 0,
};
const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    names_from: 0,
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    names_from: 0,
};
const DAY: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
    names_from: 1,
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    names_from: 1,
};
const WEEKDAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const WEEKDAY: Field = Field {
    name: "weekday",
    min: 0,
    max: 7,
    names: &WEEKDAY_NAMES,
    names_from: 0,
};

impl Field {
    fn bounds(&self) -> String {
        let names = match self.names.first() {
            Some(first) => format!(" or {first}–{}", self.names[self.names.len() - 1]),
            None => String::new(),
        };
        format!("{}–{}{names}", self.min, self.max)
    }

    fn value(&self, token: &str) -> Result<u32, String> {
        if token.is_empty() {
            return Err(format!(
                "{} has an empty value; write {}",
                self.name,
                self.bounds()
            ));
        }
        if let Ok(n) = token.parse::<u64>() {
            return match u32::try_from(n) {
                Ok(n) if (self.min..=self.max).contains(&n) => Ok(n),
                _ => Err(format!(
                    "{} must be {}, got {token}",
                    self.name,
                    self.bounds()
                )),
            };
        }
        let upper = token.to_ascii_uppercase();
        if let Some(i) = self.names.iter().position(|n| *n == upper) {
            return Ok(self.names_from + i as u32);
        }
        let special = if ["L", "W", "#"].iter().any(|c| upper.contains(c)) {
            " (L, W and # are not supported)"
        } else {
            ""
        };
        Err(format!(
            "{token:?} is not a {}{special}; write {}",
            self.name,
            self.bounds()
        ))
    }

    /// The values one field selects, or `None` for every value (`*`, `?`).
    fn values(&self, text: &str) -> Result<Option<Vec<u32>>, String> {
        if text == "*" || text == "?" {
            return Ok(None);
        }
        let mut all = Vec::new();
        for item in text.split(',') {
            if item.is_empty() {
                return Err(format!(
                    "{} has an empty entry in its list {text:?}",
                    self.name
                ));
            }
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => {
                    let step = s.parse::<u32>().ok().filter(|s| *s >= 1).ok_or_else(|| {
                        format!(
                            "{} step {s:?} must be a whole number of at least 1",
                            self.name
                        )
                    })?;
                    (r, step)
                }
                None => (item, 1),
            };
            let (from, to) = match range {
                "*" | "?" => (self.min, self.max),
                r => match r.split_once('-') {
                    Some((a, b_token)) => {
                        let (a, mut b) = (self.value(a)?, self.value(b_token)?);
                        // SUN is both 0 and 7; ending a range, it is 7, so
                        // `fri-sun` means `5-7`.
                        if self.name == WEEKDAY.name
                            && b == 0
                            && a > 0
                            && !b_token.starts_with(|c: char| c.is_ascii_digit())
                        {
                            b = 7;
                        }
                        if a > b {
                            return Err(format!(
                                "{} range {r} runs backwards; write the smaller end first",
                                self.name
                            ));
                        }
                        (a, b)
                    }
                    // `5/15` is 5, 20, 35, 50: from the value to the end.
                    None if item.contains('/') => (self.value(r)?, self.max),
                    None => {
                        let v = self.value(r)?;
                        (v, v)
                    }
                },
            };
            all.extend((from..=to).step_by(step as usize));
        }
        all.sort_unstable();
        all.dedup();
        Ok(Some(all))
    }
}

/// A cron line that does not parse: why, and which of the user's fields.
#[derive(Debug)]
pub struct CronError {
    pub reason: String,
    /// Byte span of the field in the trimmed line, when one field is at fault.
    pub span: Option<(usize, usize)>,
    pub line: String,
}

impl std::fmt::Display for CronError {
    /// The reason, then the line with the faulty field underlined.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)?;
        if let Some((start, end)) = self.span {
            let pad = self.line[..start].chars().count();
            let width = self.line[start..end].chars().count().max(1);
            write!(
                f,
                "\n    {}\n    {}{}",
                self.line,
                " ".repeat(pad),
                "^".repeat(width)
            )?;
        }
        Ok(())
    }
}

/// Parse a five- or six-field line into the crate's schedule.
pub fn parse(expr: &str) -> Result<cron::Schedule, CronError> {
    let line = expr.trim().to_string();
    let fail = |reason: String, span: Option<(usize, usize)>| CronError {
        reason,
        span,
        line: line.clone(),
    };
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, line.len()));
    }
    let fields: &[Field] = match spans.len() {
        5 => &[MINUTE, HOUR, DAY, MONTH, WEEKDAY],
        6 => &[SECOND, MINUTE, HOUR, DAY, MONTH, WEEKDAY],
        n => {
            return Err(fail(
                format!(
                "it has {n} field{}; give 5 (minute hour day month weekday) or 6 (second first)",
                if n == 1 { "" } else { "s" }
            ),
                None,
            ))
        }
    };
    let mut crate_fields = Vec::new();
    if spans.len() == 5 {
        crate_fields.push("0".to_string());
    }
    for (field, &(s, e)) in fields.iter().zip(&spans) {
        let text = &line[s..e];
        let values = field.values(text).map_err(|r| fail(r, Some((s, e))))?;
        crate_fields.push(match values {
            None => "*".to_string(),
            Some(v) if field.name == WEEKDAY.name => {
                // 0 and 7 are both Sunday; names mean the same to every cron.
                let mut days: Vec<u32> = v.iter().map(|d| d % 7).collect();
                days.sort_unstable();
                days.dedup();
                days.iter()
                    .map(|d| WEEKDAY_NAMES[*d as usize])
                    .collect::<Vec<_>>()
                    .join(",")
            }
            Some(v) => v.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
        });
    }
    cron::Schedule::from_str(&crate_fields.join(" ")).map_err(|e| {
        // Only reachable if the crate refuses what the fields above accept;
        // its message describes its own seconds-first line, so no caret.
        let reason = e
            .to_string()
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.trim().starts_with('^'))
            .map(str::to_string)
            .unwrap_or_else(|| "it is not a cron expression the scheduler can run".into());
        fail(reason, None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Datelike, Utc};

    fn err(expr: &str) -> String {
        parse(expr).unwrap_err().to_string()
    }

    #[test]
    fn out_of_range_values_name_the_field_its_bounds_and_point_at_it() {
        assert_eq!(
            err("99 * * * *"),
            "minute must be 0–59, got 99\n    99 * * * *\n    ^^"
        );
        assert_eq!(
            err("*  25 * * *"),
            "hour must be 0–23, got 25\n    *  25 * * *\n       ^^"
        );
        assert!(err("* * 0 * *").starts_with("day of month must be 1–31, got 0"));
        assert!(err("* * * 13 *").starts_with("month must be 1–12 or JAN–DEC, got 13"));
        assert!(err("* * * * 8").starts_with("weekday must be 0–7 or SUN–SAT, got 8"));
        assert_eq!(
            err("60 * * * * *"),
            "second must be 0–59, got 60\n    60 * * * * *\n    ^^"
        );
        assert!(err("0 99999999999 * * *").contains("got 99999999999"));
    }

    #[test]
    fn every_refusal_says_why() {
        for expr in [
            "1,2,,3 * * * *",
            "*/0 * * * *",
            "5-2 * * * *",
            "a * * * *",
            "0 0 L * *",
            "0 0 * * 5#2",
            "* * *",
            "",
            "*/x * * * *",
            "1- * * * *",
            "-1 * * * *",
        ] {
            let e = parse(expr).unwrap_err();
            assert!(!e.reason.trim().is_empty(), "{expr:?} has no reason");
        }
        assert!(err("1,2,,3 * * * *").contains("empty entry"));
        assert!(err("5-2 * * * *").contains("runs backwards"));
        assert!(err("*/0 * * * *").contains("at least 1"));
        assert!(err("0 0 L * *").contains("not supported"));
        assert!(err("* * *").contains("3 fields"));
    }

    #[test]
    fn weekdays_count_as_in_crontab() {
        // 2026-11-24 is a Tuesday.
        let t0: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
        let next = |expr: &str| {
            parse(expr)
                .unwrap()
                .after(&t0)
                .next()
                .unwrap()
                .weekday()
                .to_string()
        };
        assert_eq!(next("0 8 * * 1"), "Mon");
        assert_eq!(next("0 8 * * 0"), "Sun");
        assert_eq!(next("0 8 * * 7"), "Sun");
        assert_eq!(next("0 8 * * 5-7"), "Fri");
        assert_eq!(next("0 8 * * sat"), "Sat");
        let weekdays: Vec<String> = parse("0 8 * * 1-5")
            .unwrap()
            .after(&t0)
            .take(5)
            .map(|t| t.weekday().to_string())
            .collect();
        assert_eq!(weekdays, ["Wed", "Thu", "Fri", "Mon", "Tue"]);
    }

    /// SUN ends a weekday range as 7 does (`fri-sun` is `5-7`), and still
    /// starts one as 0. Found by tests/properties.rs.
    #[test]
    fn a_weekday_range_may_end_on_sunday_by_name() {
        // 2026-11-24 is a Tuesday.
        let t0: DateTime<Utc> = "2026-11-24T10:00:00Z".parse().unwrap();
        let days = |expr: &str| -> Vec<String> {
            parse(expr)
                .unwrap_or_else(|e| panic!("{expr}: {e}"))
                .after(&t0)
                .take(4)
                .map(|t| t.weekday().to_string())
                .collect()
        };
        assert_eq!(days("0 8 * * fri-sun"), ["Fri", "Sat", "Sun", "Fri"]);
        assert_eq!(days("0 8 * * MON-SUN/3"), ["Thu", "Sun", "Mon", "Thu"]);
        assert_eq!(days("0 8 * * sun-mon"), ["Sun", "Mon", "Sun", "Mon"]);
        assert_eq!(days("0 8 * * sun"), ["Sun", "Sun", "Sun", "Sun"]);
        assert!(err("0 8 * * sat-fri").contains("runs backwards"));
    }

    #[test]
    fn steps_ranges_lists_and_names_mean_what_they_say() {
        let t0: DateTime<Utc> = "2026-11-24T10:00:05Z".parse().unwrap();
        let minutes = |expr: &str| -> Vec<u32> {
            parse(expr)
                .unwrap()
                .after(&t0)
                .take(4)
                .map(|t| chrono::Timelike::minute(&t))
                .collect()
        };
        assert_eq!(minutes("*/15 * * * *"), [15, 30, 45, 0]);
        assert_eq!(minutes("5/20 * * * *"), [5, 25, 45, 5]);
        assert_eq!(minutes("10-12,40 * * * *"), [10, 11, 12, 40]);
        assert!(parse("0 0 1 jan,Jul *").is_ok());
        assert!(parse("0 0 ? * MON-FRI").is_ok());
    }
}
