//! JSON values compared and hashed by content, not by how they were built.

use serde_json::Value;

/// Sort map keys recursively, so a value prints and hashes the same
/// whatever built it (a script in either language, a server's reply).
pub fn canonical(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// A content fingerprint of a collection's objects, fed in ID order: each
/// object's ID and its properties (canonical, so key order does not
/// matter), one line each. Vectors are left out: what a person wrote is
/// what is compared.
#[derive(Default)]
pub struct ObjectsFingerprint {
    hasher: blake3::Hasher,
    objects: u64,
}

impl ObjectsFingerprint {
    pub fn add(&mut self, object: &Value) {
        let line = serde_json::json!([object["id"], canonical(object["properties"].clone())]);
        self.hasher.update(line.to_string().as_bytes());
        self.hasher.update(b"\n");
        self.objects += 1;
    }

    /// How many objects were fed.
    pub fn objects(&self) -> u64 {
        self.objects
    }

    pub fn finish(&self) -> String {
        self.hasher.finalize().to_hex().to_string()
    }
}

#[cfg(test)]
mod fingerprint_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_fingerprint_follows_content_not_key_order() {
        let fp = |objects: &[Value]| {
            let mut f = ObjectsFingerprint::default();
            objects.iter().for_each(|o| f.add(o));
            f.finish()
        };
        let a = json!({"id": "1", "properties": {"a": 1, "b": "x"}, "vector": [0.1]});
        let b = json!({"properties": {"b": "x", "a": 1}, "id": "1", "vector": [0.9]});
        let c = json!({"id": "1", "properties": {"a": 2, "b": "x"}});
        let one = fp(std::slice::from_ref(&a));
        assert_eq!(one, fp(&[b]));
        assert_ne!(one, fp(&[c]));
        assert_ne!(one, fp(&[a.clone(), a]));
    }
}
