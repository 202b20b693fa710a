//! `test-data import`: an NDJSON or JSON export written back, object IDs,
//! properties and vectors as they were, into a collection made from the
//! exported definition. The whole file is read and checked before anything
//! is written, so a bad line leaves the cluster as it was. CSV is refused:
//! it carries neither the property types nor vectors nor the definition.

use super::{
    client, dataset_of, find_class, write_batches, Dataset, ExportFormat, EXPORT_VERSION, MARK,
};
use crate::base::context::Context;
use crate::base::error::{HostError, HostResult};
use crate::clients::weaviate::class_name;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// An export read and checked: what it says about itself and its objects.
#[derive(Debug)]
pub struct Export {
    pub collection: String,
    pub schema: Value,
    /// The dataset it is an export of, `created` set to now; None for
    /// another collection.
    pub dataset: Option<Dataset>,
    /// `{id, properties, vector?}` each, in the file's order.
    pub objects: Vec<Value>,
}

/// The format given, or the one the file's extension names.
pub fn format_for(path: &Path, given: Option<ExportFormat>) -> HostResult<ExportFormat> {
    if let Some(f) = given {
        return Ok(f);
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("ndjson" | "jsonl") => Ok(ExportFormat::Ndjson),
        Some("json") => Ok(ExportFormat::Json),
        Some("csv") => Ok(ExportFormat::Csv),
        _ => Err(HostError::validation(format!(
            "cannot tell the format of {} from its name",
            path.display()
        ))
        .with_hint("give --format ndjson or --format json")),
    }
}

fn bad(source: &str, at: &str, what: impl std::fmt::Display) -> HostError {
    HostError::validation(format!("{source}{at}: {what}"))
}

/// Reads an export's text; every object is checked against the exported
/// definition (property names and types, IDs, vectors) and the count
/// against the header, so a file cut short is refused too.
pub fn parse(text: &str, format: ExportFormat, source: &str) -> HostResult<Export> {
    let (header, objects): (Value, Vec<(String, Value)>) = match format {
        ExportFormat::Csv => {
            return Err(HostError::validation(format!(
                "{source} is CSV, which cannot be imported exactly: it has no property types, vectors or collection definition"
            ))
            .with_hint("export the collection again with --format ndjson (the default) or json, and import that"))
        }
        ExportFormat::Ndjson => {
            let mut lines = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty());
            let Some((_, first)) = lines.next() else {
                return Err(bad(source, "", "the file is empty")
                    .with_hint("give a file `elysiactl test-data export` wrote"));
            };
            let header: Value = serde_json::from_str(first).map_err(|e| {
                let hint = if first.trim_start().starts_with('[') || first.trim() == "{" {
                    "this looks like a JSON export: give --format json"
                } else {
                    "give a file `elysiactl test-data export` wrote"
                };
                bad(source, " line 1", format!("not JSON ({e})")).with_hint(hint)
            })?;
            let mut objects = Vec::new();
            for (i, line) in lines {
                let v: Value = serde_json::from_str(line).map_err(|e| {
                    bad(source, &format!(" line {}", i + 1), format!("not JSON ({e})"))
                        .with_hint("each line of an NDJSON export is one object; fix or export the collection again")
                })?;
                objects.push((format!(" line {}", i + 1), v));
            }
            (header, objects)
        }
        ExportFormat::Json => {
            let mut all: Value = serde_json::from_str(text).map_err(|e| {
                let hint = if text.lines().nth(1).is_some_and(|l| l.trim_start().starts_with('{')) {
                    "this looks like an NDJSON export: give --format ndjson"
                } else {
                    "give a file `elysiactl test-data export --format json` wrote"
                };
                bad(source, "", format!("not JSON ({e})")).with_hint(hint)
            })?;
            let objects = match all.as_object_mut().and_then(|m| m.shift_remove("objects")) {
                Some(Value::Array(a)) => a,
                _ if all.is_array() => {
                    return Err(bad(source, "", "an array of objects without the export's header")
                        .with_hint("files exported before import existed have no header: export the collection again"))
                }
                _ => {
                    return Err(bad(source, "", "no `objects` array")
                        .with_hint("give a file `elysiactl test-data export --format json` wrote"))
                }
            };
            let objects = objects
                .into_iter()
                .enumerate()
                .map(|(i, o)| (format!(" object {}", i + 1), o))
                .collect();
            (all, objects)
        }
    };
    let at_header = if format == ExportFormat::Ndjson {
        " line 1"
    } else {
        ""
    };
    let version = header.get("elysiactl_export").and_then(Value::as_u64);
    match version {
        Some(EXPORT_VERSION) => {}
        Some(v) => {
            return Err(bad(source, at_header, format!("export version {v}, this elysiactl reads {EXPORT_VERSION}"))
                .with_hint("import it with the elysiactl version that exported it"))
        }
        None => {
            return Err(bad(source, at_header, "no elysiactl export header")
                .with_hint("export the collection with `elysiactl test-data export` (files exported before import existed have no header)"))
        }
    }
    let collection = header["collection"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let schema = header["schema"].clone();
    let declared = header["count"].as_u64();
    if collection.is_empty() || !schema.is_object() || declared.is_none() {
        return Err(bad(
            source,
            at_header,
            "the header lacks collection, count or schema",
        )
        .with_hint("export the collection again"));
    }
    let dataset = match &header["dataset"] {
        Value::Null => None,
        d => {
            let mut d = d.clone();
            d["created"] = json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
            Some(serde_json::from_value::<Dataset>(d).map_err(|e| {
                bad(
                    source,
                    at_header,
                    format!("the dataset record does not read ({e})"),
                )
                .with_hint("export the collection again with this elysiactl")
            })?)
        }
    };
    let types: HashMap<String, String> = schema["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p["name"].as_str()?.to_string(),
                p["dataType"][0].as_str()?.to_string(),
            ))
        })
        .collect();
    if let Some((name, _)) = types.iter().find(|(_, t)| is_reference(t)) {
        return Err(bad(
            source,
            at_header,
            format!("property {name} is a cross-reference, which import does not write"),
        )
        .with_hint("import only collections without references"));
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut dims = None;
    let mut out = Vec::with_capacity(objects.len());
    for (at, o) in objects {
        let fail = |what: String| {
            bad(source, &at, what)
                .with_hint("fix that object or export the collection again; nothing was written")
        };
        let Some(m) = o.as_object() else {
            return Err(fail("not a JSON object".into()));
        };
        if let Some(k) = m
            .keys()
            .find(|k| !matches!(k.as_str(), "id" | "properties" | "vector"))
        {
            return Err(fail(format!("unknown field {k:?}")));
        }
        let id = o["id"].as_str().unwrap_or_default();
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(fail(format!("id {} is not a UUID", o["id"])));
        }
        if let Some(first) = seen.insert(id.to_string(), at.clone()) {
            return Err(fail(format!("id {id} again (first at{first})")));
        }
        let Some(props) = o["properties"].as_object() else {
            return Err(fail("no properties object".into()));
        };
        for (k, v) in props {
            let Some(t) = types.get(k) else {
                return Err(fail(format!("property {k} is not in the exported schema")));
            };
            if !fits(t, v) {
                return Err(fail(format!("property {k}: {v} is not a {t}")));
            }
        }
        match &o["vector"] {
            Value::Null => {}
            Value::Array(xs) if !xs.is_empty() && xs.iter().all(Value::is_number) => {
                if *dims.get_or_insert(xs.len()) != xs.len() {
                    return Err(fail(format!(
                        "a vector of {} dimensions, others have {}",
                        xs.len(),
                        dims.unwrap_or_default()
                    )));
                }
            }
            _ => return Err(fail("vector is not a list of numbers".into())),
        }
        out.push(o);
    }
    if declared != Some(out.len() as u64) {
        return Err(bad(
            source,
            "",
            format!(
                "the header says {} objects, the file has {}",
                declared.unwrap_or_default(),
                out.len()
            ),
        )
        .with_hint("the file was cut short or edited: export the collection again"));
    }
    Ok(Export {
        collection,
        schema,
        dataset,
        objects: out,
    })
}

/// A cross-reference's data type names a collection (upper case first).
fn is_reference(t: &str) -> bool {
    t.chars().next().is_some_and(char::is_uppercase)
}

/// Whether a JSON value can be a property of Weaviate type `t` (null can be
/// any); types not checked here (geoCoordinates, object …) pass.
fn fits(t: &str, v: &Value) -> bool {
    if v.is_null() {
        return true;
    }
    if let Some(item) = t.strip_suffix("[]") {
        return v
            .as_array()
            .is_some_and(|a| a.iter().all(|x| fits(item, x)));
    }
    match t {
        "text" | "string" | "uuid" | "blob" => v.is_string(),
        "date" => v
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        "int" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        _ => true,
    }
}

/// Whether every property type goes through the gRPC batch here (scalars,
/// lists of text and of booleans); otherwise the import goes over REST.
fn grpc_carries(schema: &Value) -> bool {
    schema["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["dataType"][0].as_str())
        .all(|t| {
            matches!(
                t,
                "text"
                    | "string"
                    | "int"
                    | "number"
                    | "boolean"
                    | "date"
                    | "uuid"
                    | "blob"
                    | "text[]"
                    | "string[]"
                    | "boolean[]"
            )
        })
}

/// Where and how an export would be written, checked before anything is.
#[derive(Debug)]
pub struct ImportPlan {
    pub collection: String,
    pub create: bool,
    pub definition: Value,
    pub factor: usize,
}

/// The collection must be new, or hold the same test dataset as the export
/// (written again, which repairs an interrupted import); any other is refused.
pub fn plan_import(
    ctx: &Context,
    export: &Export,
    collection: Option<&str>,
    factor: Option<usize>,
) -> HostResult<ImportPlan> {
    let name = collection.unwrap_or(&export.collection).to_string();
    crate::migrate::refuse_system_collection(&class_name(&name)?, "test-data import")?;
    let nodes = ctx.config.weaviate.nodes;
    let factor = match factor {
        Some(f) => f,
        None => export.schema["replicationConfig"]["factor"]
            .as_u64()
            .unwrap_or(1) as usize,
    };
    if factor == 0 || factor > nodes {
        return Err(HostError::validation(format!(
            "replication factor {factor} does not fit a cluster of {nodes} nodes"
        ))
        .with_hint(format!("give --replication-factor 1 to {nodes}")));
    }
    let mut definition = export.schema.clone();
    definition["class"] = json!(name);
    definition["replicationConfig"]["factor"] = json!(factor);
    if let Some(d) = &export.dataset {
        let record = serde_json::to_string(d).map_err(|e| HostError::unknown(e.to_string()))?;
        definition["description"] = json!(format!("{MARK}{record}"));
    }
    let create = match find_class(ctx, &name)? {
        None => true,
        Some(class) => match (dataset_of(&class), &export.dataset) {
            (Some(had), Some(d)) if had.same_content(d) => false,
            (None, _) => {
                return Err(HostError::validation(format!(
                    "collection {name} exists and is not a test dataset"
                ))
                .with_hint(format!(
                    "test data never writes into other collections: pick another name, e.g. --collection {name}Import"
                )))
            }
            (Some(had), _) => {
                return Err(HostError::validation(format!(
                    "collection {name} holds another test dataset ({} records of pattern {}, seed {})",
                    had.count, had.pattern, had.seed
                ))
                .with_hint(format!(
                    "remove it first with `elysiactl test-data clean --name {name}`, or pick another --collection"
                )))
            }
        },
    };
    Ok(ImportPlan {
        collection: name,
        create,
        definition,
        factor,
    })
}

/// Write a checked export as `plan` says; objects Weaviate refuses are
/// counted (`refused`), not fatal, as for generate.
pub fn import(ctx: &Context, export: &Export, plan: &ImportPlan) -> HostResult<Value> {
    let t0 = Instant::now();
    if plan.create {
        ctx.block_on(client(ctx).create_class(&plan.definition))?;
    }
    let n = export.objects.len() as u64;
    let (refused, first_refusal) = write_batches(
        ctx,
        &format!("importing {}", plan.collection),
        n,
        !grpc_carries(&export.schema),
        |from, to| {
            Ok(export.objects[from as usize..to as usize]
                .iter()
                .map(|o| {
                    let mut o = o.clone();
                    o["class"] = json!(plan.collection);
                    o
                })
                .collect())
        },
    )?;
    let seconds = t0.elapsed().as_secs_f64();
    Ok(json!({
        "collection": plan.collection,
        "created": plan.create,
        "from": export.collection,
        "objects": n,
        "dataset": export.dataset,
        "factor": plan.factor,
        "written": n - refused,
        "refused": refused,
        "first_refusal": first_refusal,
        "seconds": (seconds * 100.0).round() / 100.0,
        "objects_per_s": (n as f64 / seconds.max(1e-6)).round(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8c2f1d9e-0b6a-5c3e-9f7a-1d2e3f4a5b6c";
    const ID2: &str = "8c2f1d9e-0b6a-5c3e-9f7a-1d2e3f4a5b6d";

    fn header(objects: usize) -> Value {
        json!({"elysiactl_export": 1, "collection": "Docs", "count": objects, "vectors": true,
            "dataset": null, "schema": {"properties": [
                {"name": "title", "dataType": ["text"]},
                {"name": "n", "dataType": ["int"]},
                {"name": "at", "dataType": ["date"]},
                {"name": "tags", "dataType": ["text[]"]}]}})
    }

    fn object(id: &str) -> Value {
        json!({"id": id, "properties": {"title": "a", "n": 3, "at": "2026-01-01T00:00:00Z",
            "tags": ["x", "y"]}, "vector": [0.5, -0.25]})
    }

    fn ndjson(lines: &[Value]) -> String {
        lines.iter().map(|l| l.to_string() + "\n").collect()
    }

    fn refusal(text: &str, format: ExportFormat) -> String {
        let e = parse(text, format, "f").unwrap_err();
        format!("{} / {}", e.message, e.hint)
    }

    #[test]
    fn an_ndjson_and_a_json_export_read_the_same() {
        let text = ndjson(&[header(2), object(ID), object(ID2)]);
        let a = parse(&text, ExportFormat::Ndjson, "f").unwrap();
        assert_eq!(a.collection, "Docs");
        assert_eq!(a.objects, vec![object(ID), object(ID2)]);
        assert!(a.dataset.is_none());
        let mut all = header(2);
        all["objects"] = json!([object(ID), object(ID2)]);
        let b = parse(&all.to_string(), ExportFormat::Json, "f").unwrap();
        assert_eq!(a.objects, b.objects);
        assert_eq!(a.schema, b.schema);
    }

    #[test]
    fn a_bad_line_is_named_by_its_number() {
        let text = ndjson(&[header(2), object(ID)]) + "{\"id\": oops\n";
        assert!(refusal(&text, ExportFormat::Ndjson).starts_with("f line 3: not JSON"));
        let mut wrong = object(ID2);
        wrong["properties"]["n"] = json!("three");
        let text = ndjson(&[header(2), object(ID), wrong]);
        assert!(
            refusal(&text, ExportFormat::Ndjson)
                .contains("line 3: property n: \"three\" is not a int"),
            "{}",
            refusal(&text, ExportFormat::Ndjson)
        );
        let text = ndjson(&[header(2), object(ID), object(ID)]);
        assert!(refusal(&text, ExportFormat::Ndjson).contains("line 3: id"));
        let mut unknown = object(ID2);
        unknown["properties"]["nope"] = json!(1);
        let text = ndjson(&[header(2), object(ID), unknown]);
        assert!(refusal(&text, ExportFormat::Ndjson).contains("nope is not in the exported schema"));
        let mut short = object(ID2);
        short["vector"] = json!([1.0]);
        let text = ndjson(&[header(2), object(ID), short]);
        assert!(refusal(&text, ExportFormat::Ndjson).contains("a vector of 1 dimensions"));
    }

    #[test]
    fn a_file_cut_short_or_without_a_header_is_refused() {
        let text = ndjson(&[header(3), object(ID), object(ID2)]);
        assert!(refusal(&text, ExportFormat::Ndjson).contains("says 3 objects, the file has 2"));
        let text = ndjson(&[object(ID), object(ID2)]);
        assert!(refusal(&text, ExportFormat::Ndjson).contains("no elysiactl export header"));
        assert!(refusal("", ExportFormat::Ndjson).contains("empty"));
        let old = json!([object(ID)]).to_string();
        assert!(refusal(&old, ExportFormat::Json).contains("without the export's header"));
    }

    #[test]
    fn the_wrong_format_says_which_to_give() {
        let mut all = header(1);
        all["objects"] = json!([object(ID)]);
        let pretty = serde_json::to_string_pretty(&all).unwrap();
        assert!(refusal(&pretty, ExportFormat::Ndjson).contains("give --format json"));
        let text = ndjson(&[header(1), object(ID)]);
        assert!(refusal(&text, ExportFormat::Json).contains("give --format ndjson"));
        assert!(refusal("id,title\r\n", ExportFormat::Csv).contains("cannot be imported exactly"));
    }

    #[test]
    fn the_format_comes_from_the_extension_unless_given() {
        let f = |p: &str| format_for(Path::new(p), None).ok();
        assert_eq!(f("a.ndjson"), Some(ExportFormat::Ndjson));
        assert_eq!(f("a.JSONL"), Some(ExportFormat::Ndjson));
        assert_eq!(f("a.json"), Some(ExportFormat::Json));
        assert_eq!(f("a.csv"), Some(ExportFormat::Csv));
        assert_eq!(f("dump"), None);
        assert_eq!(
            format_for(Path::new("dump"), Some(ExportFormat::Json)).ok(),
            Some(ExportFormat::Json)
        );
    }

    #[test]
    fn types_are_checked_and_lists_of_numbers_go_over_rest() {
        assert!(fits("int", &json!(3)) && fits("int", &json!(3.0)) && !fits("int", &json!(3.5)));
        assert!(
            fits("date", &json!("2026-01-01T00:00:00.5+01:00")) && !fits("date", &json!("May"))
        );
        assert!(fits("text[]", &json!(["a"])) && !fits("text[]", &json!([1])));
        assert!(fits("geoCoordinates", &json!({"latitude": 1})));
        assert!(grpc_carries(&header(0)["schema"]));
        let ints = json!({"properties": [{"name": "x", "dataType": ["int[]"]}]});
        assert!(!grpc_carries(&ints));
    }

    #[test]
    fn a_dataset_record_reads_back_with_a_new_creation_time() {
        let mut h = header(0);
        h["dataset"] = json!({"pattern": "documents", "seed": 42, "count": 0, "vectors": "none",
            "dims": 0, "generator": 1, "fingerprint": "ab", "bytes": 0});
        let e = parse(&ndjson(&[h]), ExportFormat::Ndjson, "f").unwrap();
        let d = e.dataset.unwrap();
        assert_eq!((d.pattern.as_str(), d.seed), ("documents", 42));
        assert!(chrono::DateTime::parse_from_rfc3339(&d.created).is_ok());
    }
}
