//! Running a chaos scenario (`chaos run FILE`): the steady-state hypothesis
//! first, a snapshot of the data, then the method with its guards, the
//! hypothesis again, and the rollbacks whatever happened. Each step calls a
//! host function by name, so a scenario can do what a playbook can, and
//! under `--dry-run` its writes are planned like any other. The format is
//! `crate::chaos::scenario`; `chaos validate` checks the recovery against
//! the snapshot (`crate::chaos::snapshot`).

use super::{opt, read, write, Args, Effect, Host, HostFn, Ty};
use crate::base::cancel::interrupted;
use crate::base::error::{HostError, HostResult};
use crate::benchmark::load::{LoadResult, LoadSpec, Operation};
use crate::chaos::scenario::{self, duration_of, Activity, Kind, Scenario, Tolerance};
use crate::chaos::snapshot;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How often guards are asked while the method pauses.
const GUARD_INTERVAL: Duration = Duration::from_secs(1);
/// Vector dimensions of the load's dataset (for near_vector reads).
const LOAD_DIMENSIONS: usize = 8;
/// How often a probe with `within` is asked again.
const RETRY_INTERVAL: Duration = Duration::from_millis(500);

fn load(file: &str) -> HostResult<Scenario> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        HostError::fs(format!("cannot read the scenario {file}: {e}"))
            .with_hint("give the path of a .yaml scenario; playbooks/chaos/ has examples")
    })?;
    let s = scenario::parse(&text, file)?;
    check_calls(&s, file)?;
    if let Some(l) = &s.load {
        crate::benchmark::load::check_spec(&load_spec(l)?).map_err(|e| {
            HostError::validation(format!("{file}: load: {}", e.message)).with_hint(e.hint)
        })?;
    }
    Ok(s)
}

fn load_spec(l: &scenario::Load) -> HostResult<LoadSpec> {
    let mut mix = std::collections::BTreeMap::new();
    for (name, weight) in &l.mix {
        let op = Operation::parse(name).ok_or_else(|| {
            HostError::validation(format!("load.mix: {name:?} is not an operation"))
                .with_hint("the operations: get, bm25, near_vector, filtered, insert")
        })?;
        mix.insert(op, *weight);
    }
    Ok(LoadSpec {
        collection: l.collection.clone(),
        rate: l.rate,
        duration: duration_of(&Some(l.duration.clone()), "load.duration")?.unwrap_or_default(),
        warmup: Duration::ZERO,
        max_in_flight: l.concurrency,
        mix,
        consistency: l.consistency.clone(),
        seed: 7,
        nodes: l.nodes.clone(),
        // Scenario verdicts were set on GraphQL queries; they keep them.
        protocol: crate::benchmark::load::Protocol::Graphql,
        stages: Vec::new(),
    })
}

/// Every call names a host function, takes the arguments given, and a
/// probe or a guard only reads: mistakes surface before anything runs.
fn check_calls(s: &Scenario, file: &str) -> HostResult<()> {
    let probes = s.hypothesis.iter().flat_map(|h| h.probes.iter());
    let steps = probes
        .map(|a| {
            (
                "steady-state-hypothesis",
                a.kind,
                &a.name,
                &a.call,
                a.args(),
            )
        })
        .chain(
            s.method
                .iter()
                .map(|a| ("method", a.kind, &a.name, &a.call, a.args())),
        )
        .chain(
            s.rollbacks
                .iter()
                .map(|a| ("rollbacks", a.kind, &a.name, &a.call, a.args())),
        )
        .chain(
            s.guards
                .iter()
                .map(|g| ("guards", Kind::Probe, &g.name, &g.call, g.args())),
        );
    for (section, kind, name, call, args) in steps {
        let at = format!("{file}: {section} \"{name}\"");
        let f = super::find(call).ok_or_else(|| {
            HostError::validation(format!("{at}: there is no host function {call}"))
                .with_hint("`elysiactl api` lists them, as module.function (e.g. health.check)")
        })?;
        if kind == Kind::Probe && f.effect == Effect::Write {
            return Err(HostError::validation(format!(
                "{at}: a probe only observes, and {call} changes things"
            ))
            .with_hint(
                "make the step an action (type: action), or observe with a function that reads",
            ));
        }
        super::decl::check_call(
            &f.qualified_name(),
            &format!("{}.{}", f.module, f.signature),
            &f.params,
            &args,
            &[],
        )
        .map_err(|e| HostError::validation(format!("{at}: {}", e.message)).with_hint(e.hint))?;
    }
    Ok(())
}

/// The run so far: what the journal file and the result hold.
struct Run<'h> {
    host: &'h Host,
    t0: Instant,
    guards: Vec<GuardState>,
}

struct GuardState {
    guard: scenario::Guard,
    tolerance: Tolerance,
    allow: Duration,
    failing_since: Option<Instant>,
}

impl Run<'_> {
    fn say(&self, line: &str) {
        let t = self.t0.elapsed().as_secs_f64();
        self.host.out.status(&format!("[{t:>6.1}s] {line}"));
    }

    fn call(&self, name: &str, args: Vec<Value>) -> HostResult<Value> {
        let f = super::find(name)
            .ok_or_else(|| HostError::validation(format!("no host function {name}")))?;
        self.host.call(f, args)
    }

    /// One activity: called (a probe until it passes or `within` is gone),
    /// with its start, end, output and, for a probe, whether it passed.
    fn activity(&self, a: &Activity, judged: bool) -> Value {
        let started = chrono::Utc::now();
        let t = Instant::now();
        let tolerance = a.tolerance.as_ref().and_then(|v| Tolerance::parse(v).ok());
        let within = duration_of(&a.within, "within")
            .ok()
            .flatten()
            .unwrap_or_default();
        let mut attempts = 0;
        let (output, error, verdict) = loop {
            attempts += 1;
            let result = self.call(&a.call, a.args());
            let verdict = match (&result, &tolerance) {
                (Err(e), _) => Err(e.message.clone()),
                (Ok(v), Some(tol)) => tol.check(v),
                (Ok(_), None) => Ok(()),
            };
            if verdict.is_ok() || t.elapsed() >= within || interrupted() {
                let (output, error) = match result {
                    Ok(v) => (v, None),
                    Err(e) => (Value::Null, Some(e.message)),
                };
                break (output, error, verdict);
            }
            std::thread::sleep(RETRY_INTERVAL.min(within.saturating_sub(t.elapsed())));
        };
        let passed = verdict.is_ok();
        let kind = if a.kind == Kind::Action {
            "action"
        } else {
            "probe"
        };
        let shown = match (&verdict, kind) {
            (Ok(()), "action") => "done".to_string(),
            (Ok(()), _) if tolerance.is_some() => "within tolerance".to_string(),
            (Ok(()), _) => "answered".to_string(),
            (Err(why), _) if judged || kind == "action" => format!("FAILED: {why}"),
            (Err(why), _) => format!("outside tolerance (recorded, not judged): {why}"),
        };
        let retried = if attempts > 1 {
            format!(" after {attempts} tries")
        } else {
            String::new()
        };
        self.say(&format!("{kind} {}: {shown}{retried}", a.name));
        json!({
            "type": kind, "name": a.name, "call": a.call, "arguments": a.arguments,
            "start": started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "seconds": round3(t.elapsed().as_secs_f64()), "attempts": attempts,
            "status": if passed { "succeeded" } else { "failed" },
            "tolerance_met": tolerance.as_ref().map(|_| passed),
            "reason": verdict.err(), "error": error, "output": output,
        })
    }

    /// The hypothesis: every probe within its tolerance.
    fn hypothesis(&self, s: &Scenario, when: &str) -> Option<Value> {
        let h = s.hypothesis.as_ref()?;
        self.say(&format!("steady state ({when}): {}", h.title));
        let probes: Vec<Value> = h.probes.iter().map(|p| self.activity(p, true)).collect();
        let met = probes.iter().all(|p| p["status"] == "succeeded");
        Some(json!({"title": h.title, "met": met, "probes": probes}))
    }

    /// Ask every guard; the name and reason of the first that has failed
    /// for longer than it allows.
    fn guards_tripped(&mut self) -> Option<Value> {
        let now = Instant::now();
        let mut tripped = None;
        let results: Vec<Result<(), String>> = self
            .guards
            .iter()
            .map(|g| match self.call(&g.guard.call, g.guard.args()) {
                Ok(v) => g.tolerance.check(&v),
                Err(e) => Err(e.message),
            })
            .collect();
        for (g, result) in self.guards.iter_mut().zip(results) {
            match result {
                Ok(()) => g.failing_since = None,
                Err(why) => {
                    let since = *g.failing_since.get_or_insert(now);
                    if tripped.is_none() && now.duration_since(since) >= g.allow {
                        tripped = Some(json!({
                            "guard": g.guard.name, "reason": why,
                            "failing_seconds": round3(now.duration_since(since).as_secs_f64()),
                        }));
                    }
                }
            }
        }
        if let Some(t) = &tripped {
            self.say(&format!("guard {} tripped: {}", t["guard"], t["reason"]));
        }
        tripped
    }

    /// Wait `d`, asking the guards every GUARD_INTERVAL; Ctrl-C ends it.
    fn pause(&mut self, d: Duration) -> Result<(), Value> {
        if d.is_zero() {
            return Ok(());
        }
        if self.host.dry_run {
            self.host
                .out
                .plan_line(&format!("would pause {:.1} s", d.as_secs_f64()));
            return Ok(());
        }
        self.say(&format!("pause {:.1} s", d.as_secs_f64()));
        let end = Instant::now() + d;
        let mut next_guard = Instant::now();
        while Instant::now() < end {
            if interrupted() {
                return Err(json!({"interrupted": true}));
            }
            if !self.guards.is_empty() && Instant::now() >= next_guard {
                if let Some(t) = self.guards_tripped() {
                    return Err(t);
                }
                next_guard = Instant::now() + GUARD_INTERVAL;
            }
            std::thread::sleep(
                Duration::from_millis(100).min(end.saturating_duration_since(Instant::now())),
            );
        }
        Ok(())
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn pause_of(a: &Activity, which: &str) -> Duration {
    let p = a.pauses.clone().unwrap_or_default();
    let v = if which == "before" { p.before } else { p.after };
    duration_of(&v, which).ok().flatten().unwrap_or_default()
}

/// Run a scenario; the journal of the run.
fn execute(host: &Host, file: &str, s: &Scenario) -> HostResult<Value> {
    let guards = s
        .guards
        .iter()
        .map(|g| -> HostResult<GuardState> {
            Ok(GuardState {
                guard: g.clone(),
                tolerance: Tolerance::parse(&g.tolerance)?,
                allow: duration_of(&g.allow, "allow")?.unwrap_or_default(),
                failing_since: None,
            })
        })
        .collect::<HostResult<Vec<_>>>()?;
    let mut run = Run {
        host,
        t0: Instant::now(),
        guards,
    };
    let started = chrono::Utc::now();
    // A dry run changes nothing, the journal included.
    let journal_event = |event: &str, entry: Value| {
        if !host.dry_run {
            crate::chaos::journal(event, entry);
        }
    };
    journal_event("scenario_start", json!({"title": s.title, "file": file}));
    run.say(&format!("experiment: {}", s.title));

    let before = run.hypothesis(s, "before");
    let mut status: &'static str;
    let mut method = Vec::new();
    let mut aborted_by = Value::Null;
    let mut after = None;
    let mut snapshot_taken = Value::Null;
    let mut load_offered: Option<HostResult<(LoadSpec, LoadResult)>> = None;
    if before.as_ref().is_some_and(|b| b["met"] == false) {
        status = "failed";
        run.say("the steady state was not met before the method: the method does not run");
    } else {
        // The load's dataset first: without it the experiment means nothing.
        let dataset = match (&s.load, host.dry_run) {
            (Some(l), false) => {
                match crate::benchmark::dataset(host, &l.collection, l.records, LOAD_DIMENSIONS) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        load_offered = Some(Err(e));
                        None
                    }
                }
            }
            (Some(l), true) => {
                host.out.plan_line(&format!(
                    "would offer {} requests/s to {} for the load, and look for every acknowledged write afterwards",
                    l.rate, l.collection
                ));
                None
            }
            _ => None,
        };
        // The data the method must not lose (the load's dataset included), for
        // `chaos validate` afterwards.
        snapshot_taken = match snapshot::take(host) {
            Ok(snap) => {
                let n = snap["collections"].as_object().map_or(0, |c| c.len());
                if !host.dry_run {
                    if let Err(e) = snapshot::save(&snap) {
                        run.say(&format!("snapshot not kept: {}", e.message));
                    }
                }
                run.say(&format!("snapshot of {n} collection(s) taken"));
                json!({"taken_at": snap["taken_at"], "collections": n})
            }
            Err(e) => {
                run.say(&format!("no snapshot: {}", e.message));
                json!({"error": e.message})
            }
        };
        // The load set up (its scratch collection made) before the method
        // can take a node away.
        let prepared = match s.load.as_ref().zip(dataset) {
            Some((l, dataset)) if load_offered.is_none() => {
                match load_spec(l).and_then(|spec| {
                    crate::benchmark::load::prepare(host, &spec, dataset).map(|p| (spec, p))
                }) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        load_offered = Some(Err(e));
                        None
                    }
                }
            }
            _ => None,
        };
        if load_offered.is_some() {
            status = "failed";
        } else {
            // The load runs beside the method, on its own thread, for its duration.
            let (st, ab, steps, offered) = std::thread::scope(|scope| {
                let load = s.load.as_ref().zip(prepared).map(|(l, (spec, prepared))| {
                    run.say(&format!(
                        "load: {} requests/s on {} at {}",
                        l.rate, l.collection, l.consistency
                    ));
                    scope.spawn(move || -> HostResult<(LoadSpec, LoadResult)> {
                        let r = prepared.offer(host, &spec, None, true)?;
                        Ok((spec, r))
                    })
                });
                let (st, ab, steps) = method_steps(&mut run, s);
                let offered = load.map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(HostError::unknown("the load generator panicked")))
                });
                (st, ab, steps, offered)
            });
            (status, aborted_by, method) = (st, ab, steps);
            load_offered = offered;
        }
        if status == "completed" {
            after = run.hypothesis(s, "after");
        }
    }

    // Rollbacks run whatever happened, Ctrl-C included: each one is tried.
    let mut rollbacks = Vec::new();
    if before.as_ref().is_none_or(|b| b["met"] == true) && !s.rollbacks.is_empty() {
        run.say("rollbacks");
        for a in &s.rollbacks {
            rollbacks.push(run.activity(a, false));
        }
    }
    // Every write the cluster acknowledged must be there, now that it healed.
    let load = match load_offered {
        None => Value::Null,
        Some(Err(e)) => {
            run.say(&format!("the load could not run: {}", e.message));
            if status == "completed" {
                status = "failed";
            }
            json!({"error": e.message})
        }
        Some(Ok((spec, r))) => {
            let back = crate::benchmark::load::missing(host, &spec, &r.acknowledged);
            crate::benchmark::load::drop_writes(host, &spec);
            let back = back.unwrap_or_else(|e| crate::benchmark::load::ReadBack {
                lost: vec![format!("not checked: {}", e.message)],
                ..Default::default()
            });
            let lost = back.lost;
            let late = back.found_late;
            let late_note = if late.is_empty() {
                String::new()
            } else {
                format!(
                    " ({} not found by the first read but by a later one)",
                    late.len()
                )
            };
            run.say(&format!(
                "load: {} writes acknowledged, {} of them lost{late_note}",
                r.acknowledged.len(),
                lost.len()
            ));
            json!({"summary": r.summary(), "acknowledged": r.acknowledged.len(),
                   "lost": lost.len(), "lost_ids": lost.iter().take(10).collect::<Vec<_>>(),
                   "found_late": late.len(), "found_late_ids": late.iter().take(10).collect::<Vec<_>>()})
        }
    };
    let lost_writes = load["lost"].as_u64().unwrap_or(0) > 0;
    let deviated = after.as_ref().is_some_and(|a| a["met"] == false) || lost_writes;
    let verdict = match (status, deviated) {
        ("completed", false) => "the steady state held",
        ("completed", true) if lost_writes => "DEVIATED: acknowledged writes were lost",
        ("completed", true) => "DEVIATED: the steady state did not hold after the method",
        ("failed", _) if method.is_empty() && before.is_some() => {
            "FAILED: the steady state was not met before the method"
        }
        ("failed", _) if load["error"].is_string() => "FAILED: the load could not run",
        ("failed", _) => "FAILED: an action failed",
        ("aborted", _) => "ABORTED: a guard tripped; the rollbacks ran",
        _ => "INTERRUPTED: the rollbacks ran",
    };
    run.say(verdict);
    let ended = chrono::Utc::now();
    let mut journal = json!({
        "title": s.title, "description": s.description, "tags": s.tags, "file": file,
        "status": status, "deviated": deviated, "verdict": verdict, "dry_run": host.dry_run,
        "start": started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "end": ended.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "seconds": round3(run.t0.elapsed().as_secs_f64()),
        "steady_states": {"before": before, "after": after},
        "snapshot": snapshot_taken, "load": load, "run": method, "rollbacks": rollbacks, "aborted_by": aborted_by,
    });
    crate::base::redact::json(&mut journal);
    journal_event(
        "scenario_end",
        json!({"title": s.title, "file": file, "status": status, "deviated": deviated}),
    );
    Ok(journal)
}

/// The method's steps in order, until one fails, a guard trips or Ctrl-C:
/// (status, what aborted it, the steps done).
fn method_steps(run: &mut Run, s: &Scenario) -> (&'static str, Value, Vec<Value>) {
    let mut status = "completed";
    let mut aborted_by = Value::Null;
    let mut method = Vec::new();
    for a in &s.method {
        if let Err(why) = run.pause(pause_of(a, "before")) {
            (status, aborted_by) = stop_reason(why);
            break;
        }
        if interrupted() {
            status = "interrupted";
            break;
        }
        if !run.guards.is_empty() {
            if let Some(t) = run.guards_tripped() {
                (status, aborted_by) = ("aborted", t);
                break;
            }
        }
        let done = run.activity(a, false);
        let action_failed = a.kind == Kind::Action && done["status"] == "failed";
        method.push(done);
        if action_failed {
            status = "failed";
            run.say(&format!("action {} failed: the method stops", a.name));
            break;
        }
        if let Err(why) = run.pause(pause_of(a, "after")) {
            (status, aborted_by) = stop_reason(why);
            break;
        }
    }
    (status, aborted_by, method)
}

fn stop_reason(why: Value) -> (&'static str, Value) {
    if why["interrupted"] == true {
        ("interrupted", Value::Null)
    } else {
        ("aborted", why)
    }
}

/// The journal of a run is kept with the chaos journal: runs/<start>.json.
fn keep(journal: &mut Value, report: Option<&str>) -> HostResult<()> {
    let dir = crate::chaos::dir().join("runs");
    let stamp = journal["start"]
        .as_str()
        .unwrap_or_default()
        .replace([':', '.'], "-");
    let kept = dir.join(format!("{stamp}.json"));
    let text = serde_json::to_string_pretty(journal).unwrap_or_default();
    let write = |p: &std::path::Path| -> HostResult<()> {
        if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| HostError::fs(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(p, &text).map_err(|e| {
            HostError::fs(format!("cannot write the journal {}: {e}", p.display()))
                .with_hint("choose a --journal path in a folder you can write")
        })
    };
    write(&kept)?;
    journal["journal_file"] = json!(kept.display().to_string());
    if let Some(r) = report {
        write(std::path::Path::new(r))?;
        journal["report"] = json!(r);
    }
    Ok(())
}

fn scenario_fn(_: &Host, a: &Args) -> HostResult<Value> {
    let file = a.str(0)?;
    let s = load(&file)?;
    let names = |v: &[Activity]| {
        v.iter().map(|a| json!({"type": if a.kind == Kind::Action {"action"} else {"probe"}, "name": a.name, "call": a.call})).collect::<Vec<_>>()
    };
    Ok(json!({
        "file": file, "title": s.title, "description": s.description,
        "hypothesis": s.hypothesis.as_ref().map(|h| names(&h.probes)).unwrap_or_default(),
        "method": names(&s.method), "rollbacks": names(&s.rollbacks),
        "guards": s.guards.iter().map(|g| json!({"name": g.name, "call": g.call})).collect::<Vec<_>>(),
    }))
}

/// Both the run and its dry run: under --dry-run the steps' own writes are
/// planned by the host, and the reads run for real.
fn run_fn(host: &Host, a: &Args) -> HostResult<Value> {
    let file = a.str(0)?;
    let o = a.opts(1)?;
    let s = load(&file)?;
    let mut journal = execute(host, &file, &s)?;
    if !host.dry_run {
        keep(&mut journal, o.str("journal")?.as_deref())?;
    }
    Ok(journal)
}

fn snapshot_fn(host: &Host, _: &Args) -> HostResult<Value> {
    let snap = snapshot::take(host)?;
    snapshot::save(&snap)?;
    Ok(snap)
}

fn simulate_snapshot(host: &Host, _: &Args) -> HostResult<Value> {
    snapshot::take(host)
}

/// Did the system recover? Health with the cluster and data checks, and
/// the data against the snapshot; asked again until `within` is gone.
fn validate_fn(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(0)?;
    let within = o.duration("within")?.unwrap_or_default();
    let t0 = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let report = crate::health::check(
            host,
            &crate::health::Options {
                cluster: true,
                data: true,
                probe_lag: false,
                sample_size: 20,
                ..Default::default()
            },
        )?;
        let before = snapshot::load()?;
        let differences = match &before {
            Some(b) => snapshot::differences(b, &snapshot::take(host)?),
            None => Vec::new(),
        };
        let healthy = report["status"] == "healthy";
        let problems: Vec<Value> = report["problems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p["message"].clone())
            .collect();
        let checks = vec![
            json!({"check": "recovered", "ok": healthy,
                   "detail": if healthy { json!("every node ready, RAFT whole, factors as expected, sampled replicas equal, Elysia reaching Weaviate") } else { json!(problems) }}),
            json!({"check": "data as before", "ok": differences.is_empty(),
            "detail": match &before {
                None => json!("no snapshot: `chaos run` takes one before its method, `chaos snapshot` takes one now"),
                Some(_) if differences.is_empty() => json!("schema, counts and sample fingerprints equal the snapshot"),
                Some(_) => json!(differences),
            }}),
        ];
        let ok = healthy && differences.is_empty();
        if ok || t0.elapsed() >= within || interrupted() {
            return Ok(json!({
                "ok": ok, "checks": checks, "status": report["status"],
                "snapshot": before.map(|b| b["taken_at"].clone()),
                "differences": differences, "attempts": attempts,
                "seconds": round3(t0.elapsed().as_secs_f64()),
            }));
        }
        std::thread::sleep(Duration::from_secs(1).min(within.saturating_sub(t0.elapsed())));
    }
}

pub fn functions() -> Vec<HostFn> {
    vec![
        read("chaos", "scenario", scenario_fn)
            .param("file", Ty::Str)
            .returns(Ty::record(&["file", "title", "hypothesis", "method", "rollbacks", "guards"]))
            .doc("Read and check a scenario file (YAML) without running it: its format (each mistake with its line), every call a host function taking the arguments given, probes and guards only reading. Returns {file, title, description, hypothesis, method, rollbacks, guards} with each step's type, name and call."),
        write("chaos", "snapshot", snapshot_fn, simulate_snapshot)
            .returns(Ty::record(&["taken_at", "collections"]))
            .doc("Record the data a chaos experiment must not lose, for chaos.validate: each collection's properties and replication factor, its exact count, and a blake3 fingerprint of its first 200 objects in ID order (IDs and properties). chaos.run takes one before its method. Returns {taken_at, collections: {name: {factor, properties, count, sampled, fingerprint}}}; kept under the state folder's chaos/snapshot.json."),
        read("chaos", "validate", validate_fn)
            .opts(vec![opt("within", Ty::Duration)])
            .returns(Ty::record(&["ok", "checks", "status", "snapshot", "differences"]))
            .doc("Did the system recover? health.check with the cluster and data checks (every node back, RAFT leader and voters, factors as expected, sampled replicas equal, Elysia reaching Weaviate), and the data against the last snapshot (schema, counts, sample fingerprints). within: ask again until it passes or this much time is gone. Returns {ok, checks: [{check, ok, detail}], status, snapshot (when it was taken), differences, attempts, seconds}."),
        write("chaos", "run", run_fn, run_fn)
            .param("file", Ty::Str)
            .opts(vec![opt("journal", Ty::Str)])
            .returns(Ty::record(&["title", "status", "deviated", "verdict", "steady_states", "run", "rollbacks"]))
            .doc("Run a scenario: the steady-state hypothesis, then the method (actions, probes, pauses; guards asked between steps and every second of a pause), the hypothesis again, and the rollbacks whatever happened (Ctrl-C included). Prints a timeline on stderr. Returns the journal: {title, status: completed|failed|aborted|interrupted, deviated, verdict, steady_states: {before, after}, run: [activity], rollbacks, aborted_by, journal_file}; each activity has start, seconds, attempts, status, tolerance_met, reason, output. Kept under the state folder's chaos/runs/, and at opts.journal. Under --dry-run the steps' writes are planned, not done."),
    ]
}
