//! The config file as `Config::load` reads it: TOML text parsed into the
//! configuration, then checked setting by setting (an error names its line).
//! What passes is used the way commands use it, which must not panic either.
#![no_main]

use elysiactl::base::config::Config;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/fuzz/config.toml");
    let mut cfg = match Config::parse_file(text, Some(path)) {
        Ok(cfg) => cfg,
        Err(e) => {
            assert!(!e.message.is_empty(), "a refusal without a reason");
            return;
        }
    };
    cfg.apply_env(|_| None)
        .expect("no environment, nothing to refuse");
    if let Err(e) = cfg.check_loaded(Some(text), path) {
        assert!(!e.message.is_empty() && !e.hint.is_empty(), "{e:?}");
        return;
    }
    // A configuration that loads is one every command can act on.
    let nodes = cfg.weaviate.node_specs();
    assert_eq!(nodes.len(), cfg.weaviate.nodes);
    let factor = cfg.weaviate.expected_replication_factor();
    assert!((1..=cfg.weaviate.nodes).contains(&factor), "{factor}");
    for n in &nodes {
        let _ = n.rest_url();
    }
    let _ = cfg.elysia.url();
    let _ = cfg.weaviate.image_name();
    let _ = elysiactl::script::Limits::from_config(&cfg);
    // What `config show --json` prints: no secret in it.
    let json = cfg.redacted_json();
    for (section, key) in [
        ("weaviate", &cfg.weaviate.api_key),
        ("elysia", &cfg.elysia.api_key),
        ("index", &cfg.index.embedding_api_key),
    ] {
        let shown = &json[section][if section == "index" {
            "embedding_api_key"
        } else {
            "api_key"
        }];
        assert_eq!(shown.as_str(), Some(key.redacted()), "{section}: {shown}");
    }
    for (section, env) in [("weaviate", &cfg.weaviate.env), ("elysia", &cfg.elysia.env)] {
        for (name, value) in env {
            let shown = &json[section]["env"][name];
            if elysiactl::base::redact::is_secret_name(name)
                && !value.is_empty()
                && !["true", "false"].contains(&value.trim().to_ascii_lowercase().as_str())
            {
                assert_eq!(shown, elysiactl::base::redact::MASK, "{section}.env.{name}");
            }
        }
    }
});
