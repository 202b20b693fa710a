//! Environments built on others: `extends = "base"` in an environment's
//! config takes every key of the base environment's config and overrides
//! the ones it sets itself. The TOML tables are merged (a key left out is
//! inherited, never reset to its default), and each key keeps the file it
//! came from, for `config show --origins`.

use super::Config;
use crate::base::error::{HostError, HostResult};
use crate::base::paths;
use std::collections::BTreeMap;
use std::path::Path;

/// Dotted key (`weaviate.rest_port`, `weaviate.env.LOG_LEVEL`, `jobs`) to
/// where its value came from.
pub(super) type Origins = BTreeMap<String, String>;

/// The table of the config file `path` (its text `text`, already checked by
/// `Config::parse_file`) with every environment it extends merged under it.
/// `name` is the environment the file belongs to, for the cycle message.
pub(super) fn resolve(text: &str, path: &Path, name: &str) -> HostResult<(toml::Table, Origins)> {
    let mut chain = vec![name.to_string()];
    layer(text, path, &mut chain)
}

/// The configuration of the file `path` (text `text`, which extends
/// `base`) merged over what it extends.
pub(super) fn merged(table: toml::Table, path: &Path, base: &str) -> HostResult<Config> {
    let mut cfg: Config = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| {
            HostError::validation(format!(
                "{} with what it extends ({base}): {}",
                path.display(),
                e.message().trim()
            ))
            .with_hint(format!("fix {} or the environment {base}", path.display()))
        })?;
    cfg.extends = Some(base.to_string());
    Ok(cfg)
}

fn layer(text: &str, path: &Path, chain: &mut Vec<String>) -> HostResult<(toml::Table, Origins)> {
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        HostError::validation(format!("{}: {}", path.display(), e.message().trim()))
            .with_hint(format!("fix {}", path.display()))
    })?;
    let base = table.remove("extends");
    let mut origins = Origins::new();
    leaves(
        &table,
        "",
        &format!("file {}", path.display()),
        &mut origins,
    );
    let Some(base) = base else {
        return Ok((table, origins));
    };
    origins.insert("extends".into(), format!("file {}", path.display()));
    let Some(base) = base.as_str().map(str::to_string) else {
        return Err(HostError::validation(format!(
            "{}: extends must be the name of an environment",
            path.display()
        ))
        .with_hint("e.g. extends = \"staging\" (`elysiactl env list` names them)"));
    };
    paths::check_env_name(&base)?;
    if chain.contains(&base) {
        chain.push(base);
        return Err(HostError::validation(format!(
            "environments extend each other in a cycle: {}",
            chain.join(" extends ")
        ))
        .with_hint(format!(
            "remove or change `extends` in one of them, e.g. in {}",
            path.display()
        )));
    }
    chain.push(base.clone());
    let base_path = paths::env_config_file(&base);
    let base_text = std::fs::read_to_string(&base_path).map_err(|e| {
        HostError::validation(format!(
            "{} extends the environment {base}, whose config {} cannot be read: {e}",
            path.display(),
            base_path.display()
        ))
        .with_hint(format!(
            "create it (`elysiactl env add {base}`), or fix `extends` in {}",
            path.display()
        ))
    })?;
    // The base on its own first: a bad value there is named at its line.
    Config::parse_file(&base_text, Some(&base_path))?;
    let (mut merged, mut all_origins) = layer(&base_text, &base_path, chain)?;
    merge(&mut merged, table);
    all_origins.extend(origins);
    Ok((merged, all_origins))
}

/// `over` into `under`: tables key by key, any other value replaced whole
/// (a list of jobs is one value).
fn merge(under: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (under.get_mut(&key), value) {
            (Some(toml::Value::Table(u)), toml::Value::Table(o)) => merge(u, o),
            (_, v) => {
                under.insert(key, v);
            }
        }
    }
}

fn leaves(table: &toml::Table, prefix: &str, origin: &str, out: &mut Origins) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(t) => leaves(t, &path, origin, out),
            _ => {
                out.insert(path, origin.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_set_over_a_table_keeps_the_rest_of_it() {
        let mut under: toml::Table = "[weaviate]\nnodes = 3\nrest_port = 1\n".parse().unwrap();
        merge(&mut under, "[weaviate]\nrest_port = 2\n".parse().unwrap());
        assert_eq!(under["weaviate"]["nodes"].as_integer(), Some(3));
        assert_eq!(under["weaviate"]["rest_port"].as_integer(), Some(2));
    }
}
