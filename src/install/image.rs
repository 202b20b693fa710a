//! The Weaviate image: `FROM scratch`, the static weaviate-server that
//! `install weaviate` built, an empty /tmp, nothing else. Built locally
//! through the Docker engine, no registry involved.

use crate::base::error::{HostError, HostResult};
use crate::clients::docker::{self as dk, Docker, OWNED_LABEL};
use std::collections::BTreeMap;
use std::path::Path;

/// The Dockerfile of the Weaviate image: the static server and an empty /tmp, nothing else.
const WEAVIATE_DOCKERFILE: &str = "FROM scratch\n\
COPY rootfs/ /\n\
ENTRYPOINT [\"/bin/weaviate-server\"]\n\
CMD [\"--host\", \"0.0.0.0\", \"--port\", \"8080\", \"--scheme\", \"http\"]\n";

/// The build context as an in-memory tar: Dockerfile, rootfs/bin/weaviate-server, rootfs/tmp/.
fn weaviate_context(binary: &[u8]) -> HostResult<Vec<u8>> {
    dk::build_context(&[
        ("Dockerfile", 0o644, Some(WEAVIATE_DOCKERFILE.as_bytes())),
        ("rootfs/", 0o755, None),
        ("rootfs/bin/", 0o755, None),
        ("rootfs/tmp/", 0o1777, None),
        ("rootfs/bin/weaviate-server", 0o755, Some(binary)),
    ])
}

/// Build `image` from a static weaviate-server binary: `FROM scratch`, the
/// binary at /bin/weaviate-server, an empty /tmp, labelled
/// `io.elysiactl.owned=true`.
pub async fn build_weaviate_image(docker: &Docker, binary: &Path, image: &str) -> HostResult<()> {
    let bytes = tokio::fs::read(binary).await.map_err(|e| {
        HostError::io(format!("cannot read {}", binary.display()), e)
            .with_hint("run `elysiactl install weaviate` to build the server binary first")
    })?;
    if bytes.get(..4) != Some(b"\x7fELF") {
        return Err(HostError::validation(format!(
            "{} is not a Linux executable",
            binary.display()
        ))
        .with_hint("point weaviate.binary at a static weaviate-server build (CGO_ENABLED=0)"));
    }
    let context = weaviate_context(&bytes)?;
    drop(bytes);
    let labels = BTreeMap::from([(OWNED_LABEL.to_string(), "true".to_string())]);
    dk::build_image(docker, context, image, &labels, BUILD_FAILED_HINT).await
}

const BUILD_FAILED_HINT: &str = "check the binary is a static (CGO_ENABLED=0) weaviate-server and that /var/lib/docker has free space";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_has_dockerfile_binary_and_tmp() {
        let tar_bytes = weaviate_context(b"\x7fELFfake").unwrap();
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let mut seen = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let e = entry.unwrap();
            let path = e.path().unwrap().display().to_string();
            seen.insert(path, e.header().mode().unwrap());
        }
        assert_eq!(seen["rootfs/bin/weaviate-server"], 0o755);
        assert_eq!(seen["rootfs/tmp/"] & 0o7777, 0o1777);
        assert!(seen.contains_key("Dockerfile"));
        assert!(WEAVIATE_DOCKERFILE.starts_with("FROM scratch"));
        assert!(WEAVIATE_DOCKERFILE.contains("ENTRYPOINT [\"/bin/weaviate-server\"]"));
    }
}
