//! Test data for scripts: `testdata.generate(#{pattern: "documents",
//! records: 1000, seed: 42})`, `testdata.list()`, `testdata.clean(#{older_than:
//! "7d"})`, `testdata.validate("TestDataDocuments")`, `testdata.export_file(...)`,
//! `testdata.import_file("docs.ndjson", #{collection: "DocsCopy"})`.

use super::{opt, read, write, Args, Host, HostFn, Ty};
use crate::base::error::{HostError, HostResult};
use crate::testdata::patterns::Pattern;
use crate::testdata::sampled::{DEFAULT_SAMPLE, MAX_SAMPLE};
use crate::testdata::{self, ExportFormat, GenerateOptions, Shape, SAMPLED};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The shape asked for; a sampled one reads its source (a read, so it also
/// runs under dry-run) and builds the profile.
fn shape_of(host: &Host, o: &super::args::Opts) -> HostResult<Shape> {
    let name = o.str("pattern")?.unwrap_or_else(|| "synthetic".into());
    let from = o.str("from")?;
    let sensitive: Vec<String> = o
        .str_list("sensitive")?
        .unwrap_or_default()
        .iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if name != SAMPLED {
        if from.is_some() || !sensitive.is_empty() || o.int("sample")?.is_some() {
            return Err(HostError::validation(format!(
                "from, sensitive and sample are for the sampled pattern, not {name}"
            ))
            .with_hint("add --pattern sampled, or leave them out"));
        }
        return Ok(Shape::Fixed(
            Pattern::parse(&name).unwrap_or(Pattern::Synthetic),
        ));
    }
    let from = from.ok_or_else(|| {
        HostError::validation("the sampled pattern needs a collection to sample")
            .with_hint("name it with --from, e.g. --pattern sampled --from Customers")
    })?;
    let limit = o.int_in("sample", DEFAULT_SAMPLE as i64, 1, MAX_SAMPLE as i64)? as usize;
    let profile = testdata::sample_profile(host, &from, &sensitive, limit)?;
    Ok(Shape::Sampled(Box::new(testdata::sampled::Sampler::new(
        profile,
    ))))
}

fn generate_options(host: &Host, a: &Args) -> HostResult<GenerateOptions> {
    let o = a.opts(0)?;
    let shape = shape_of(host, &o)?;
    let embedder = o.str("embedder")?;
    let dims = o.int("vectors")?;
    if embedder.is_some() && dims.is_some() {
        return Err(HostError::validation("give vectors or embedder, not both")
            .with_hint("--vectors DIM makes seeded random vectors; --embedder embeds the text"));
    }
    let collection = o.str("collection")?.unwrap_or_else(|| match &shape {
        Shape::Fixed(p) => p.default_collection(),
        Shape::Sampled(s) => format!("TestDataSampled{}", s.profile.source),
    });
    Ok(GenerateOptions {
        shape,
        seed: o.int_in("seed", 42, 0, i64::MAX)? as u64,
        count: o.int_in("records", 1000, 1, testdata::MAX_RECORDS as i64)? as u64,
        collection,
        dims: dims.map(|d| d.clamp(0, 1 << 20) as usize),
        embedder,
        factor: o.int_in(
            "replication_factor",
            host.config.weaviate.expected_replication_factor() as i64,
            1,
            64,
        )? as usize,
    })
}

fn generate(host: &Host, a: &Args) -> HostResult<Value> {
    testdata::generate(host, &generate_options(host, a)?)
}

/// What would be written, checked as a real run checks it first.
fn simulate_generate(host: &Host, a: &Args) -> HostResult<Value> {
    let o = generate_options(host, a)?;
    let (dataset, create) = testdata::plan_generate(host, &o)?;
    Ok(json!({
        "collection": o.collection, "created": create, "dataset": dataset,
        "written": 0, "refused": 0, "first_refusal": null, "seconds": 0.0,
        "objects_per_s": 0.0, "dry_run": true,
    }))
}

fn list(host: &Host, _: &Args) -> HostResult<Value> {
    Ok(json!(testdata::list(host)?))
}

fn clean_filter(a: &Args) -> HostResult<(Option<std::time::Duration>, Option<String>)> {
    let o = a.opts(0)?;
    Ok((o.duration("older_than")?, o.str("name")?))
}

fn clean(host: &Host, a: &Args) -> HostResult<Value> {
    let (older, name) = clean_filter(a)?;
    testdata::clean(host, older, name.as_deref())
}

fn simulate_clean(host: &Host, a: &Args) -> HostResult<Value> {
    let (older, name) = clean_filter(a)?;
    Ok(json!({"removed": testdata::to_clean(host, older, name.as_deref())?, "dry_run": true}))
}

fn validate(host: &Host, a: &Args) -> HostResult<Value> {
    let o = a.opts(1)?;
    testdata::validate(host, &a.str(0)?, o.bool("replicas", true)?)
}

fn format_of(a: &Args, i: usize) -> HostResult<ExportFormat> {
    let name = a.opts(i)?.str("format")?.unwrap_or_else(|| "ndjson".into());
    ExportFormat::parse(&name).ok_or_else(|| {
        HostError::validation(format!("unknown export format {name:?}"))
            .with_hint("use json, ndjson or csv")
    })
}

fn export(host: &Host, a: &Args) -> HostResult<Value> {
    let (text, objects) = testdata::export(host, &a.str(0)?, format_of(a, 1)?)?;
    Ok(json!({"objects": objects, "text": text}))
}

fn export_file(host: &Host, a: &Args) -> HostResult<Value> {
    let path = PathBuf::from(a.str(1)?);
    let (text, objects) = testdata::export(host, &a.str(0)?, format_of(a, 2)?)?;
    crate::base::paths::write_atomic(&path, text.as_bytes())?;
    Ok(json!({"path": path, "objects": objects, "bytes": text.len()}))
}

fn simulate_export_file(host: &Host, a: &Args) -> HostResult<Value> {
    let (text, objects) = testdata::export(host, &a.str(0)?, format_of(a, 2)?)?;
    Ok(json!({"path": a.str(1)?, "objects": objects, "bytes": text.len(), "dry_run": true}))
}

/// The file read and checked whole, and where it would go: what a real
/// import and its dry run both do before writing.
fn import_plan(
    host: &Host,
    a: &Args,
) -> HostResult<(testdata::import::Export, testdata::import::ImportPlan)> {
    let path = PathBuf::from(a.str(0)?);
    let o = a.opts(1)?;
    let given = match o.str("format")? {
        None => None,
        Some(name) => Some(ExportFormat::parse(&name).ok_or_else(|| {
            HostError::validation(format!("unknown import format {name:?}"))
                .with_hint("use ndjson or json")
        })?),
    };
    let format = testdata::import::format_for(&path, given)?;
    let text = std::fs::read_to_string(&path).map_err(|e| {
        HostError::validation(format!("cannot read {}: {e}", path.display()))
            .with_hint("give a file `elysiactl test-data export --output FILE` wrote")
    })?;
    let export = testdata::import::parse(&text, format, &path.display().to_string())?;
    let factor = o
        .int("replication_factor")?
        .map(|f| f.clamp(0, 64) as usize);
    let plan =
        testdata::import::plan_import(host, &export, o.str("collection")?.as_deref(), factor)?;
    Ok((export, plan))
}

fn import_file(host: &Host, a: &Args) -> HostResult<Value> {
    let (export, plan) = import_plan(host, a)?;
    testdata::import::import(host, &export, &plan)
}

fn simulate_import_file(host: &Host, a: &Args) -> HostResult<Value> {
    let (export, plan) = import_plan(host, a)?;
    Ok(json!({
        "collection": plan.collection, "created": plan.create, "from": export.collection,
        "objects": export.objects.len(), "dataset": export.dataset, "factor": plan.factor,
        "written": 0, "refused": 0, "first_refusal": null, "seconds": 0.0,
        "objects_per_s": 0.0, "dry_run": true,
    }))
}

pub fn functions() -> Vec<HostFn> {
    let format = || vec![opt("format", Ty::one_of(ExportFormat::NAMES))];
    let patterns = Pattern::NAMES.iter().copied().chain([SAMPLED]);
    vec![
        write("testdata", "generate", generate, simulate_generate)
            .opts(vec![
                opt("pattern", Ty::one_of(patterns)),
                opt("records", Ty::Int),
                opt("seed", Ty::Int),
                opt("collection", Ty::Str),
                opt("from", Ty::Str),
                opt("sensitive", Ty::list_of(Ty::Str)),
                opt("sample", Ty::Int),
                opt("vectors", Ty::Int),
                opt("embedder", Ty::one_of(["static", "minilm"])),
                opt("replication_factor", Ty::Int),
            ])
            .returns(Ty::record(&["collection", "created", "dataset", "written", "refused", "seconds"]))
            .doc("Write a seeded test dataset: opts.records = 1000 objects of opts.pattern (synthetic, user-activity, documents, code, load, sampled; default synthetic) from opts.seed = 42 into opts.collection (default TestData<Pattern>, TestDataSampled<From>) at opts.replication_factor (default the cluster's), with seeded unit vectors of opts.vectors dimensions or vectors of the text from opts.embedder. The same seed gives the same objects and IDs. Pattern sampled profiles the first opts.sample = 10000 objects of collection opts.from (the distribution of every property; every word and number in text replaced by a keyed pseudo-word that is no token of the source; the properties in opts.sensitive, a list of names, and those named like email, name, phone, address, user or ip keep only the range of their numbers and dates) and generates from that profile, recorded in the dataset. The collection must be new or hold the same dataset (written again, which repairs an interrupted run); any other collection is refused. Returns {collection, created, dataset: {pattern, seed, count, vectors, dims, created, fingerprint, bytes, profile (sampled only)}, written, refused, first_refusal, seconds, objects_per_s}."),
        read("testdata", "list", list)
            .returns(Ty::array(Ty::Map))
            .doc("The test datasets in the cluster: [{collection, pattern, source (the collection a sampled one was profiled from, else null), seed, records, objects, complete, vectors, factor, bytes, created, age_s, fingerprint}]."),
        write("testdata", "clean", clean, simulate_clean)
            .opts(vec![opt("older_than", Ty::Duration), opt("name", Ty::Str)])
            .returns(Ty::record(&["removed"]))
            .doc("Remove test datasets: all, those older than opts.older_than, or the one opts.name names (refused when it is not a test dataset). Never touches another collection. Returns {removed: [what list shows of each]}."),
        read("testdata", "validate", validate)
            .param("collection", Ty::Str)
            .opts(vec![opt("replicas", Ty::Bool)])
            .returns(Ty::record(&["ok", "missing", "extra", "changed", "replicas_disagree"]))
            .doc("Regenerate a test dataset from its seed and compare every object: {collection, ok, records, objects, missing: [id], extra: [id], changed: [{id, record, fields}], replicas_checked, replicas_disagree: [{id, present_on}]}; with opts.replicas = true (default) every object is also read from every node."),
        read("testdata", "export_text", export)
            .param("collection", Ty::Str)
            .opts(format())
            .returns(Ty::record(&["objects", "text"]))
            .doc("A collection's objects ({id, properties, vector where there is one}, in ID order) as text: opts.format = \"ndjson\" (a header line, then an object a line), \"json\" (the header's fields and objects, an array) or \"csv\" (id, then a column per property; lists as JSON; no vectors, no header). The header is {elysiactl_export: 1, collection, count, vectors, dataset (the test dataset's record without created, or null), schema (the definition without its name)}: what testdata.import_file needs. Returns {objects, text}."),
        write("testdata", "export_file", export_file, simulate_export_file)
            .param("collection", Ty::Str)
            .param("path", Ty::Str)
            .opts(format())
            .returns(Ty::record(&["path", "objects", "bytes"]))
            .doc("testdata.export_text written to a file, replaced atomically: {path, objects, bytes}."),
        write("testdata", "import_file", import_file, simulate_import_file)
            .param("path", Ty::Str)
            .opts(vec![
                opt("format", Ty::one_of(["ndjson", "json"])),
                opt("collection", Ty::Str),
                opt("replication_factor", Ty::Int),
            ])
            .returns(Ty::record(&["collection", "created", "objects", "written", "refused", "seconds"]))
            .doc("Write an NDJSON or JSON export (testdata.export_file's; opts.format, else from the file's extension) back: each object's ID, properties and vector, into opts.collection (default the exported one), created from the exported definition at opts.replication_factor (default the exported factor) when missing. The whole file is checked first (header, JSON, IDs, property names and types, vector lengths, the count); a bad line is refused with its number and nothing is written. An export of a test dataset becomes that dataset (list and validate know it); an existing collection is written only when it holds the same dataset (again, which repairs an interrupted import), any other is refused. CSV is refused (no types, vectors or definition). Returns {collection, created, from, objects, dataset, factor, written, refused, first_refusal, seconds, objects_per_s}."),
    ]
}
