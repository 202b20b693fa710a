//! A saved run as one self-contained HTML page (plots as inline SVG drawn
//! with plotters: no script, no stylesheet or font fetched from anywhere)
//! and its raw samples as CSV. A run saved before requests were recorded
//! with their times (only latencies per operation) gets the plots it can
//! have, and the page and the CSV say what it lacks.

use super::load::Request;
use super::resources::{NodeSample, Resources};
use crate::base::error::{HostError, HostResult};
use plotters::prelude::*;
use serde_json::Value;

/// Line and bar colours, fixed so a test can find each plot in a
/// screenshot of the page.
pub const P50: RGBColor = RGBColor(31, 119, 180);
pub const P95: RGBColor = RGBColor(255, 127, 14);
pub const P99: RGBColor = RGBColor(214, 39, 40);
pub const THROUGHPUT: RGBColor = RGBColor(44, 160, 44);
pub const ERRORS: RGBColor = RGBColor(148, 103, 189);
pub const HISTOGRAM: RGBColor = RGBColor(23, 190, 207);
pub const BASELINE: RGBColor = RGBColor(140, 86, 75);
pub const CURRENT: RGBColor = RGBColor(227, 119, 194);
/// One colour per node in the CPU and memory plots, in node order.
pub const NODES: [RGBColor; 6] = [
    RGBColor(0, 0, 139),
    RGBColor(0, 128, 128),
    RGBColor(184, 134, 11),
    RGBColor(85, 107, 47),
    RGBColor(128, 0, 0),
    RGBColor(112, 128, 144),
];

const SIZE: (u32, u32) = (960, 360);

/// What `html` made: the page, the titles of its plots, and what the run
/// lacks for the plots it could not have.
pub struct Report {
    pub html: String,
    pub plots: Vec<String>,
    pub missing: Vec<String>,
}

/// The recorded requests of a run, or None when it was saved before they
/// were recorded.
pub fn requests(run: &Value) -> Option<Vec<Request>> {
    let rows = run.get("requests")?.as_array()?;
    rows.iter()
        .map(|r| serde_json::from_value::<Request>(r.clone()).ok())
        .collect()
}

fn check_run(run: &Value, which: &str) -> HostResult<()> {
    if run.get("samples_us").is_none() || run.get("summary").is_none() {
        return Err(
            HostError::validation(format!("the {which} value is not a benchmark run"))
                .with_hint("report on what bench.run() returns or bench.saved(name) reads"),
        );
    }
    Ok(())
}

fn name_of(run: &Value) -> String {
    run["name"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| "(unsaved run)".into())
}

/// Every successful latency of a run (µs), all operations together.
fn all_latencies(run: &Value) -> Vec<u64> {
    let mut out: Vec<u64> = run["samples_us"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(_, xs)| {
            xs.as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
        })
        .collect();
    out.sort_unstable();
    out
}

/// Nearest-rank quantile of sorted samples.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn plot_error(e: impl std::fmt::Display) -> HostError {
    HostError::unknown(format!("cannot draw a plot: {e}"))
}

/// Width of a time bucket: about 30 over the run, at least 250 ms so a
/// bucket holds enough requests for its percentiles to mean something.
fn bucket_us(seconds: f64) -> u64 {
    ((seconds / 30.0).max(0.25) * 1e6) as u64
}

/// One line of a chart: its legend label, colour and points.
type Line = (String, RGBColor, Vec<(f64, f64)>);

/// What a line chart shows on its axes (both start at 0).
struct Axes {
    title: &'static str,
    x_desc: &'static str,
    y_desc: &'static str,
    x_max: f64,
    y_max: f64,
}

/// A line chart as an SVG string: one line per (label, colour, points),
/// with a legend (at `legend`, else plotters' default place).
fn line_chart(
    axes: &Axes,
    series: Vec<Line>,
    legend: Option<SeriesLabelPosition>,
) -> HostResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(axes.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..axes.x_max, 0f64..axes.y_max)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .x_desc(axes.x_desc)
            .y_desc(axes.y_desc)
            .draw()
            .map_err(plot_error)?;
        for (label, colour, points) in series {
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(3)))
                .map_err(plot_error)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(3))
                });
        }
        let mut labels = chart.configure_series_labels();
        if let Some(place) = legend {
            labels.position(place);
        }
        labels
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn latency_over_time(reqs: &[Request], seconds: f64) -> HostResult<String> {
    let width = bucket_us(seconds);
    let buckets = ((seconds * 1e6) as u64).div_ceil(width).max(1) as usize;
    let mut per: Vec<Vec<u64>> = vec![Vec::new(); buckets];
    for r in reqs.iter().filter(|r| r.3) {
        per[((r.1 / width) as usize).min(buckets - 1)].push(r.2);
    }
    let mut lines: [Vec<(f64, f64)>; 3] = Default::default();
    for (i, b) in per.iter_mut().enumerate() {
        if b.is_empty() {
            continue;
        }
        b.sort_unstable();
        let t = (i as f64 + 0.5) * width as f64 / 1e6;
        for (line, q) in lines.iter_mut().zip([0.5, 0.95, 0.99]) {
            line.push((t, ms(quantile(b, q))));
        }
    }
    let top = lines[2].iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let series = lines
        .into_iter()
        .zip([("p50", P50), ("p95", P95), ("p99", P99)])
        .map(|(points, (label, colour))| (label.to_string(), colour, points))
        .collect();
    line_chart(
        &Axes {
            title: "Latency percentiles over time (successful requests)",
            x_desc: "time since the measured part began (s)",
            y_desc: "latency (ms)",
            x_max: seconds.max(0.1),
            y_max: top,
        },
        series,
        None,
    )
}

fn throughput_over_time(reqs: &[Request], seconds: f64) -> HostResult<String> {
    let width = bucket_us(seconds);
    let buckets = ((seconds * 1e6) as u64).div_ceil(width).max(1) as usize;
    let (mut ok, mut failed) = (vec![0u64; buckets], vec![0u64; buckets]);
    for r in reqs {
        let i = ((r.1 / width) as usize).min(buckets - 1);
        if r.3 {
            ok[i] += 1;
        } else {
            failed[i] += 1;
        }
    }
    let per_s = |n: u64| n as f64 / (width as f64 / 1e6);
    let point = |(i, n): (usize, &u64)| ((i as f64 + 0.5) * width as f64 / 1e6, per_s(*n));
    let top = ok
        .iter()
        .chain(&failed)
        .map(|n| per_s(*n))
        .fold(1.0, f64::max)
        * 1.15;
    let series = [&ok, &failed]
        .into_iter()
        .zip([("succeeded", THROUGHPUT), ("failed", ERRORS)])
        .map(|(counts, (label, colour))| {
            (
                label.to_string(),
                colour,
                counts.iter().enumerate().map(point).collect(),
            )
        })
        .collect();
    line_chart(
        &Axes {
            title: "Throughput over time (by when requests were due)",
            x_desc: "time since the measured part began (s)",
            y_desc: "requests per second",
            x_max: seconds.max(0.1),
            y_max: top,
        },
        series,
        None,
    )
}

/// 40 bins from 0 to the 99.5th percentile; slower requests are counted in
/// the last bin, so one outlier does not squash the rest into one bar.
fn histogram(sorted: &[u64]) -> HostResult<String> {
    const BINS: usize = 40;
    let hi = ms(quantile(sorted, 0.995)).max(0.001);
    let width = hi / BINS as f64;
    let mut counts = [0u64; BINS];
    for &l in sorted {
        counts[((ms(l) / width) as usize).min(BINS - 1)] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Latency histogram (all operations; the last bar holds the slowest 0.5%)",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..hi, 0f64..top)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            .x_desc("latency (ms)")
            .y_desc("requests")
            .draw()
            .map_err(plot_error)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let x0 = i as f64 * width;
                Rectangle::new(
                    [(x0, 0.0), (x0 + width * 0.9, c as f64)],
                    HISTOGRAM.filled(),
                )
            }))
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Each run's latency at every percentile, the baseline's and the current
/// one's on the same axes: a regression shows as the current curve above.
fn percentile_curves(baseline: &[u64], current: &[u64], names: (&str, &str)) -> HostResult<String> {
    let qs: Vec<f64> = (1..=99).map(f64::from).chain([99.5, 99.9]).collect();
    let curve = |s: &[u64]| -> Vec<(f64, f64)> {
        qs.iter()
            .map(|q| (*q, ms(quantile(s, q / 100.0))))
            .collect()
    };
    let (b, c) = (curve(baseline), curve(current));
    let top = b.iter().chain(&c).map(|p| p.1).fold(1.0, f64::max) * 1.1;
    line_chart(
        &Axes {
            title: "Baseline against current: latency at each percentile (all operations)",
            x_desc: "percentile (%)",
            y_desc: "latency (ms)",
            x_max: 100.0,
            y_max: top,
        },
        vec![
            (format!("baseline: {}", names.0), BASELINE, b),
            (format!("current: {}", names.1), CURRENT, c),
        ],
        Some(SeriesLabelPosition::UpperLeft),
    )
}

/// The SVG backend writes a standalone document; inline in HTML the
/// element needs neither the XML prolog nor the namespace URL (which
/// would be the page's only external-looking reference).
fn inline(svg: &str) -> String {
    let start = svg.find("<svg").unwrap_or(0);
    svg[start..].replace(" xmlns=\"http://www.w3.org/2000/svg\"", "")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = String::from("<table><tr>");
    for h in head {
        t += &format!("<th>{}</th>", escape(h));
    }
    t += "</tr>";
    for r in rows {
        t += "<tr>";
        for c in r {
            t += &format!("<td>{}</td>", escape(c));
        }
        t += "</tr>";
    }
    t + "</table>"
}

fn summary_table(run: &Value) -> String {
    let cols = [
        "count",
        "errors",
        "p50_ms",
        "p90_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
        "throughput",
    ];
    let rows: Vec<Vec<String>> = run["summary"]["operations"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(op, s)| {
            std::iter::once(op.clone())
                .chain(cols.iter().map(|c| text_of(&s[*c])))
                .collect()
        })
        .collect();
    let mut head = vec!["operation"];
    head.extend(
        cols.iter()
            .map(|c| if *c == "throughput" { "per_s" } else { c }),
    );
    table(&head, &rows)
}

fn environment_table(run: &Value) -> String {
    let rows: Vec<Vec<String>> = run["environment"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| vec![k.clone(), text_of(v)])
        .collect();
    table(&["key", "value"], &rows)
}

/// The page for `run`; with `baseline` (an earlier run) also the two
/// compared, and `verdict` (what `compare_runs` said) as a table.
pub fn html(run: &Value, baseline: Option<&Value>, verdict: Option<&Value>) -> HostResult<Report> {
    check_run(run, "run")?;
    if let Some(b) = baseline {
        check_run(b, "baseline")?;
    }
    let name = name_of(run);
    let seconds = run["spec"]["duration"].as_f64().unwrap_or(0.0);
    let mut plots: Vec<(String, String)> = Vec::new();
    let mut missing = Vec::new();
    match requests(run) {
        Some(reqs) if !reqs.is_empty() => {
            plots.push((
                "latency over time".into(),
                latency_over_time(&reqs, seconds)?,
            ));
            plots.push((
                "throughput over time".into(),
                throughput_over_time(&reqs, seconds)?,
            ));
        }
        Some(_) => missing.push("the run recorded no requests: nothing to plot over time".into()),
        None => missing.push(format!(
            "run {name} was saved before requests were recorded with their times: \
             no latency or throughput over time (save it again to have them)"
        )),
    }
    let latencies = all_latencies(run);
    if latencies.is_empty() {
        missing.push("the run has no successful request: no latency histogram".into());
    } else {
        plots.push(("latency histogram".into(), histogram(&latencies)?));
    }
    if let Some(b) = baseline {
        plots.push((
            "baseline against current".into(),
            percentile_curves(&all_latencies(b), &latencies, (&name_of(b), &name))?,
        ));
    }
    match serde_json::from_value::<Resources>(run["resources"].clone()) {
        Ok(r) if r.samples.iter().any(|s| s.2.is_some()) => {
            plots.push(("node CPU over time".into(), node_cpu(&r, seconds)?));
            plots.push(("node memory over time".into(), node_memory(&r, seconds)?));
            missing.extend(r.missing);
        }
        Ok(r) if !r.missing.is_empty() => missing.extend(r.missing),
        _ => missing.push(format!(
            "run {name} has no per-node CPU and memory (runs saved before they were sampled)"
        )),
    }

    let mut page =
        String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    page += &format!("<title>Benchmark {}</title>", escape(&name));
    page += "<style>body{font-family:sans-serif;margin:16px;max-width:1000px;color:#222}\
             table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #bbb;padding:2px 8px;text-align:right}\
             th{background:#eee}td:first-child{text-align:left}.plot{margin:8px 0}\
             .missing{color:#8a4b00}</style></head><body>";
    page += &format!(
        "<h1>Benchmark {}</h1><p>Run at {}; {} requests/s offered for {} s after {} s of warm-up, \
         at most {} in flight, consistency {}; {} sent, {} dropped; the load generator used {} s of CPU.</p>",
        escape(&name),
        escape(&text_of(&run["time"])),
        escape(&offered(run)),
        escape(&text_of(&run["spec"]["duration"])),
        escape(&text_of(&run["spec"]["warmup"])),
        escape(&text_of(&run["spec"]["concurrency"])),
        escape(&text_of(&run["spec"]["consistency"])),
        escape(&text_of(&run["summary"]["sent"])),
        escape(&text_of(&run["summary"]["dropped"])),
        escape(&text_of(&run["summary"]["generator_cpu_s"])),
    );
    for (title, svg) in &plots {
        page += &format!(
            "<div class=\"plot\" title=\"{}\">{}</div>",
            escape(title),
            inline(svg)
        );
    }
    if !missing.is_empty() {
        page += "<h2>Not in this report</h2><ul class=\"missing\">";
        for m in &missing {
            page += &format!("<li>{}</li>", escape(m));
        }
        page += "</ul>";
    }
    page += "<h2>Summary per operation</h2>";
    page += &summary_table(run);
    if let (Some(b), Some(v)) = (baseline, verdict) {
        page += &format!(
            "<h2>Compared with {} ({})</h2><p>{}. {}</p>",
            escape(&name_of(b)),
            escape(&text_of(&b["time"])),
            escape(&text_of(&v["test"])),
            if v["ok"] == true {
                "No regression."
            } else {
                "REGRESSION."
            }
        );
        let rows: Vec<Vec<String>> = v["operations"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(op, c)| {
                vec![
                    op.clone(),
                    text_of(&c["median_ms_before"]),
                    text_of(&c["median_ms_after"]),
                    format!("{:.1}%", c["change"].as_f64().unwrap_or(0.0) * 100.0),
                    format!("{:.3e}", c["p_value"].as_f64().unwrap_or(1.0)),
                    text_of(&c["verdict"]),
                ]
            })
            .collect();
        page += &table(
            &[
                "operation",
                "median_ms_before",
                "median_ms_after",
                "change",
                "p_value",
                "verdict",
            ],
            &rows,
        );
        for d in v["environment_differences"]
            .as_array()
            .into_iter()
            .flatten()
        {
            page += &format!(
                "<p class=\"missing\">The environments differ: {}</p>",
                escape(&text_of(d))
            );
        }
    }
    page += "<h2>Environment</h2>";
    page += &environment_table(run);
    page += "</body></html>\n";
    Ok(Report {
        html: page,
        plots: plots.into_iter().map(|(t, _)| t).collect(),
        missing,
    })
}

/// One line a node of one reading (CPU or memory) over time.
fn node_lines(r: &Resources, value: impl Fn(&NodeSample) -> Option<f64>) -> Vec<Line> {
    r.nodes
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let points = r
                .samples
                .iter()
                .filter(|s| s.0 == i)
                .filter_map(|s| value(s).map(|v| (s.1, v)))
                .collect();
            (name.clone(), NODES[i % NODES.len()], points)
        })
        .collect()
}

/// One reading of every node over time, one line a node; the y axis from
/// zero to above the highest reading (and at least `floor`).
fn node_plot(
    r: &Resources,
    seconds: f64,
    (title, y_desc, floor): (&'static str, &'static str, f64),
    legend: Option<SeriesLabelPosition>,
    value: impl Fn(&NodeSample) -> Option<f64>,
) -> HostResult<String> {
    let lines = node_lines(r, value);
    let points = || lines.iter().flat_map(|l| l.2.iter());
    let top = points().map(|p| p.1).fold(floor, f64::max) * 1.15;
    let x_max = points().map(|p| p.0).fold(seconds, f64::max);
    line_chart(
        &Axes {
            title,
            x_desc: "time since the measured part began (s)",
            y_desc,
            x_max: x_max.max(0.1),
            y_max: top,
        },
        lines,
        legend,
    )
}

fn node_cpu(r: &Resources, seconds: f64) -> HostResult<String> {
    let axes = ("CPU per node (percent of one core)", "CPU (%)", 10.0);
    node_plot(r, seconds, axes, None, |s| s.2)
}

fn node_memory(r: &Resources, seconds: f64) -> HostResult<String> {
    let axes = ("Memory per node (resident)", "memory (MiB)", 1.0);
    let lower_right = Some(SeriesLabelPosition::LowerRight);
    node_plot(r, seconds, axes, lower_right, |s| {
        s.3.map(|b| b as f64 / 1_048_576.0)
    })
}

/// The offered rate as the page's first line gives it: the rate, or for a
/// rate profile (stress, spike) its mean and how many stages it had.
fn offered(run: &Value) -> String {
    match run["spec"]["stages"].as_array() {
        Some(stages) if !stages.is_empty() => format!(
            "{} (mean; a rate profile of {} stages from {})",
            text_of(&run["summary"]["offered_mean_rate"]),
            stages.len(),
            text_of(&run["spec"]["rate"])
        ),
        _ => text_of(&run["spec"]["rate"]),
    }
}

pub const CSV_HEADER: &str = "operation,start_offset_us,latency_us,outcome";

/// One row a request: operation, when it was due (µs after the measured
/// part began), latency (µs), ok or error. Returns (text, rows, what the
/// run lacks): a run saved before requests were recorded gives its
/// successful latencies with an empty start column, and no row for its
/// errors (it kept only their count).
pub fn csv(run: &Value) -> HostResult<(String, usize, Vec<String>)> {
    check_run(run, "run")?;
    let mut out = format!("{CSV_HEADER}\n");
    let mut missing = Vec::new();
    let rows = match requests(run) {
        Some(reqs) => {
            for Request(op, start, latency, ok) in &reqs {
                out += &format!(
                    "{},{start},{latency},{}\n",
                    op.as_str(),
                    if *ok { "ok" } else { "error" }
                );
            }
            reqs.len()
        }
        None => {
            missing.push(format!(
                "run {} was saved before requests were recorded with their times: \
                 start_offset_us is empty and its errors (counted only) have no rows",
                name_of(run)
            ));
            let mut n = 0;
            for (op, xs) in run["samples_us"].as_object().into_iter().flatten() {
                for l in xs
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_u64)
                {
                    out += &format!("{op},,{l},ok\n");
                    n += 1;
                }
            }
            n
        }
    };
    Ok((out, rows, missing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run_with_requests() -> Value {
        json!({
            "name": "t", "time": "2026-12-03T00:00:00Z",
            "spec": {"duration": 2.0, "rate": 10.0},
            "summary": {"operations": {"get": {"count": 3, "errors": 1}}},
            "samples_us": {"get": [1000, 2000, 3000]},
            "requests": [["get", 0, 1000, true], ["get", 500000, 2000, true],
                         ["get", 1000000, 9000, false], ["get", 1500000, 3000, true]],
            "environment": {"nodes": 1},
        })
    }

    #[test]
    fn csv_has_a_row_a_request_and_says_what_an_old_run_lacks() {
        let (text, rows, missing) = csv(&run_with_requests()).unwrap();
        assert_eq!(rows, 4);
        assert!(missing.is_empty());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines[3], "get,1000000,9000,error");
        let mut old = run_with_requests();
        old.as_object_mut().unwrap().remove("requests");
        let (text, rows, missing) = csv(&old).unwrap();
        assert_eq!(rows, 3);
        assert_eq!(text.lines().nth(1), Some("get,,1000,ok"));
        assert_eq!(missing.len(), 1, "{missing:?}");
    }

    #[test]
    fn an_old_run_gets_the_plots_it_can_have_and_a_note() {
        let mut old = run_with_requests();
        old.as_object_mut().unwrap().remove("requests");
        let r = html(&old, None, None).unwrap();
        assert_eq!(r.plots, ["latency histogram"]);
        assert!(r.html.contains("saved before requests were recorded"));
        let r = html(&run_with_requests(), Some(&old), None).unwrap();
        assert_eq!(r.plots.len(), 4, "{:?}", r.plots);
        assert!(!r.html.contains("http://") && !r.html.contains("https://"));
        assert_eq!(r.html.matches("<svg").count(), 4);
    }

    #[test]
    fn not_a_run_is_refused() {
        assert!(html(&json!({"x": 1}), None, None).is_err());
        assert!(csv(&json!([])).is_err());
    }
}
