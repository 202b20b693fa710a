//! `benchmark report` on a run saved through `benchmark baseline --save`
//! against a real one-node cluster: the HTML page is self-contained and,
//! rendered by headless Chromium, shows its plots (each plot's line or bar
//! colour is found in the screenshot, in the plots' order down the page);
//! `--export` writes one CSV row a recorded request.

mod common;

use common::{require, require_weaviate, Stack};
use elysiactl::benchmark::report::{CURRENT, HISTOGRAM, NODES, P50, P99, THROUGHPUT};
use plotters::style::RGBColor;
use std::path::Path;
use std::process::Command;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// A screenshot of a page, decoded: (width, height, RGB rows).
fn screenshot(browser: &str, page: &Path, png: &Path) -> (usize, usize, Vec<u8>) {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            &format!("--screenshot={}", png.display()),
            "--window-size=1200,2000",
            &format!("file://{}", page.display()),
        ])
        .output()
        .unwrap();
    assert!(
        png.exists(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let rgb: Vec<u8> = buf[..info.buffer_size()]
        .chunks(channels)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width as usize, info.height as usize, rgb)
}

/// The rows (y) where a colour appears, anti-aliased edges aside.
fn rows_of(shot: &(usize, usize, Vec<u8>), c: RGBColor) -> Vec<usize> {
    let (w, _, px) = shot;
    px.chunks(3)
        .enumerate()
        .filter(|(_, p)| {
            (p[0] as i32 - c.0 as i32).abs() <= 6
                && (p[1] as i32 - c.1 as i32).abs() <= 6
                && (p[2] as i32 - c.2 as i32).abs() <= 6
        })
        .map(|(i, _)| i / w)
        .collect()
}

fn mean(xs: &[usize]) -> f64 {
    xs.iter().sum::<usize>() as f64 / xs.len().max(1) as f64
}

#[test]
fn an_html_report_of_a_saved_run_renders_its_plots_and_the_csv_has_every_request() {
    if !require_weaviate() {
        return;
    }
    let Some(browser) = chromium() else {
        require("Debian's chromium (headless, to render the report)", false);
        return;
    };
    let s = Stack::new("process", 1, false, "");
    s.run(&["start", "--timeout", "120"]).ok();
    let saved = s
        .run(&[
            "benchmark",
            "baseline",
            "--save",
            "short",
            "--rate",
            "60",
            "--duration",
            "4s",
            "--warmup",
            "1s",
            "--records",
            "200",
            "--dims",
            "8",
            "--mix",
            "get=3,bm25=1,near_vector=1",
            "--json",
        ])
        .ok()
        .json();
    let sent = saved["summary"]["sent"].as_u64().unwrap();
    assert!(sent > 100, "{saved:#}");

    let dir = s.dir.path();
    let (html, cmp, csv) = (
        dir.join("report.html"),
        dir.join("compare.html"),
        dir.join("metrics.csv"),
    );
    let r = s
        .run(&[
            "benchmark",
            "report",
            "--run",
            "short",
            "--format",
            "html",
            "--output",
            html.to_str().unwrap(),
            "--export",
            csv.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        r["report"]["plots"],
        serde_json::json!([
            "latency over time",
            "throughput over time",
            "latency histogram",
            "node CPU over time",
            "node memory over time"
        ]),
        "{r:#}"
    );
    assert_eq!(r["csv"]["rows"], sent, "{r:#}");
    assert_eq!(r["csv"]["missing"], serde_json::json!([]), "{r:#}");

    // Self-contained: nothing to fetch, every plot inline.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "the report refers to the network"
    );
    assert!(!page.contains("<script"), "the report needs no script");
    assert_eq!(page.matches("<svg").count(), 5);

    // One row a request, in order of due time, every field parsing.
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("operation,start_offset_us,latency_us,outcome")
    );
    let mut last_start = 0u64;
    let mut rows = 0u64;
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 4, "{l}");
        assert!(["get", "bm25", "near_vector"].contains(&f[0]), "{l}");
        let start: u64 = f[1].parse().unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(start >= last_start, "rows out of order at {l}");
        assert!(start < 4_000_000, "a request due after the run: {l}");
        last_start = start;
        let latency: u64 = f[2].parse().unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(latency > 0, "{l}");
        assert!(["ok", "error"].contains(&f[3]), "{l}");
        rows += 1;
    }
    assert_eq!(rows, sent);

    // Rendered, the page shows the plots top to bottom: percentiles over
    // time, throughput, histogram.
    let shot = screenshot(browser, &html, &dir.join("report.png"));
    assert_eq!((shot.0, shot.1), (1200, 2000));
    let white = shot
        .2
        .chunks(3)
        .filter(|p| p.iter().all(|c| *c > 245))
        .count();
    assert!(
        white < shot.0 * shot.1 * 95 / 100,
        "the page rendered (nearly) blank"
    );
    let (p50, p99, tput, hist) = (
        rows_of(&shot, P50),
        rows_of(&shot, P99),
        rows_of(&shot, THROUGHPUT),
        rows_of(&shot, HISTOGRAM),
    );
    for (what, rows) in [
        ("p50 line", &p50),
        ("p99 line", &p99),
        ("throughput line", &tput),
        ("histogram bars", &hist),
    ] {
        assert!(rows.len() > 100, "the {what} is not in the screenshot");
    }
    // Each plot is 360 px tall (SVG units = CSS px at this window size).
    assert!(
        p99.iter().chain(&p50).all(|y| *y < 500),
        "percentile lines outside the first plot"
    );
    assert!(mean(&p99) < mean(&tput) && mean(&tput) < mean(&hist));
    assert!(tput.iter().all(|y| (400..900).contains(y)));
    assert!(hist.iter().all(|y| (750..1300).contains(y)));
    // The node's CPU line, below the histogram (memory follows, off screen).
    let node = rows_of(&shot, NODES[0]);
    assert!(
        node.len() > 50 && node.iter().all(|y| *y > 1100),
        "the node CPU plot is not below the histogram"
    );

    // Two runs: the current run's percentile curve is drawn as well.
    let r = s
        .run(&[
            "benchmark",
            "report",
            "--baseline",
            "short",
            "--compare",
            "short",
            "--output",
            cmp.to_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(r["report"]["plots"][3], "baseline against current", "{r:#}");
    let page = std::fs::read_to_string(&cmp).unwrap();
    assert!(page.contains("No regression."), "a run against itself");
    let shot = screenshot(browser, &cmp, &dir.join("compare.png"));
    let current = rows_of(&shot, CURRENT);
    assert!(
        current.len() > 100 && current.iter().all(|y| *y > 1100),
        "the comparison curve is not below the other plots"
    );
}
