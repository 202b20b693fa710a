//! What the engine's failures mean: each bollard error turned into a
//! `HostError` with a category and a hint that says what to do.

use super::ENGINE_HINT;
use crate::base::error::{Category, HostError};
use bollard::errors::Error as BollardError;

/// The error and its causes on one line ("client error (Connect): No such file or directory").
fn chain(e: &BollardError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Turn a bollard error into a `HostError` with a category and a hint.
/// `context` says what was being done ("cannot stop container x").
pub(super) fn engine_error(context: &str, e: BollardError) -> HostError {
    match e {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => server_error(context, status_code, &message),
        BollardError::RequestTimeoutError => HostError::timeout(format!(
            "{context}: the Docker engine did not answer in time"
        ))
        .with_hint("check that dockerd is healthy (not overloaded or stuck); try again"),
        BollardError::JsonDataError { .. } | BollardError::JsonSerdeError { .. } => HostError::new(
            Category::Encoding,
            format!(
                "{context}: unreadable answer from the Docker engine: {}",
                chain(&e)
            ),
        )
        .with_hint("elysiactl expects Docker Engine 20.10 or newer (API 1.41+)"),
        BollardError::DockerStreamError { error } => {
            HostError::unknown(format!("{context}: {error}"))
                .with_hint("see the Docker daemon's log for details")
        }
        BollardError::APIVersionParseError {} => HostError::new(
            Category::Encoding,
            format!("{context}: the Docker engine reported an API version elysiactl cannot read"),
        )
        .with_hint("elysiactl expects Docker Engine 20.10 or newer (API 1.41+)"),
        other => {
            let text = chain(&other);
            if text.contains("Permission denied") || text.contains("os error 13") {
                HostError::network(format!(
                    "{context}: no permission to use the Docker socket ({text})"
                ))
                .with_hint("run as root or as a member of the `docker` group, or set weaviate.runtime = \"process\"")
            } else {
                HostError::network(format!(
                    "{context}: the Docker engine is unreachable ({text})"
                ))
                .with_hint(ENGINE_HINT)
            }
        }
    }
}

fn server_error(context: &str, status: u16, message: &str) -> HostError {
    let msg = format!("{context}: {}", message.trim());
    let lower = message.to_ascii_lowercase();
    if lower.contains("port is already allocated") || lower.contains("address already in use") {
        return HostError::validation(msg).with_hint(
            "another container or program holds that host port: free it, or move the cluster with weaviate.rest_port / grpc_port / metrics_port",
        );
    }
    match status {
        404 => HostError::validation(msg).with_hint(
            "nothing by that name exists in Docker; docker.containers(#{all: true}), docker.images() and docker.networks() list what does",
        ),
        409 => HostError::validation(msg)
            .with_hint("the object is in use or in the wrong state: stop or remove what holds it first"),
        400 => HostError::validation(msg)
            .with_hint("the engine refused the request as invalid; check the values given (names, ports, image)"),
        401 | 403 => HostError::validation(msg)
            .with_hint("the engine refused the operation; check dockerd's authorization plugins"),
        _ => HostError::unknown(msg)
            .with_hint("the Docker engine failed; its log (dockerd's stderr or `journalctl -u docker`) has details"),
    }
}

pub(super) fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_engine_says_how_to_fix_it() {
        let e = engine_error(
            "cannot reach Docker",
            BollardError::SocketNotFoundError("/var/run/docker.sock".into()),
        );
        assert_eq!(e.category, Category::Network);
        assert!(e.hint.contains("dockerd"), "{}", e.hint);
        assert!(e.hint.contains("weaviate.runtime"), "{}", e.hint);
        let nf = engine_error(
            "x",
            BollardError::DockerResponseServerError {
                status_code: 404,
                message: "No such container: y".into(),
            },
        );
        assert_eq!(nf.category, Category::Validation);
        assert!(!nf.hint.is_empty());
        let port = engine_error(
            "x",
            BollardError::DockerResponseServerError {
                status_code: 500,
                message: "Bind for 127.0.0.1:8080 failed: port is already allocated".into(),
            },
        );
        assert!(port.hint.contains("rest_port"), "{}", port.hint);
    }
}
