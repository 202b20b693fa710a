//! The image the swarm runtime's tasks run: the Weaviate image with a small
//! helper in front, built locally from the Weaviate image (no registry).

use crate::base::error::{HostError, HostResult};
use crate::clients::docker::{self as dk, Docker, OWNED_LABEL};
use std::collections::BTreeMap;

/// The swarm runtime's entry point in front of weaviate-server. A task on
/// an overlay network also has an interface on docker_gwbridge, which holds
/// the default route, and memberlist advertises the default route's address
/// when given none: an address peers cannot reach (another host's gwbridge,
/// or this one's with inter-container traffic off). No task address can be
/// known before the task runs, so this looks it up in the overlay's subnet
/// (ELYSIACTL_OVERLAY_SUBNET) and passes it as CLUSTER_BIND_ADDR: memberlist
/// then listens and advertises there, and keeps its LAN timings (an
/// advertise address alone would switch Weaviate to the slower WAN ones).
///
/// `elysiactl-advertise --raft-remove NODE`, run inside a task (an exec),
/// posts to the node's own cluster API on the data port, which only the
/// overlay network reaches: how `weaviate scale` takes a node out of RAFT.
const ADVERTISE_HELPER_GO: &str = r#"// elysiactl-advertise: run a program with CLUSTER_BIND_ADDR set to
// this container's address in ELYSIACTL_OVERLAY_SUBNET (built by elysiactl);
// or, with --raft-remove NODE, take NODE out of RAFT through this node's
// cluster API (CLUSTER_DATA_BIND_PORT).
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
)

func raftRemove(node string) {
	body := strings.NewReader(fmt.Sprintf(`{"node": %q}`, node))
	url := "http://127.0.0.1:" + os.Getenv("CLUSTER_DATA_BIND_PORT") + "/v1/cluster/remove"
	resp, err := http.Post(url, "application/json", body)
	if err != nil {
		fmt.Fprintln(os.Stderr, "elysiactl-advertise:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		fmt.Fprintln(os.Stderr, "elysiactl-advertise:", resp.Status, strings.TrimSpace(string(text)))
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "--raft-remove" {
		raftRemove(os.Args[2])
		return
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: elysiactl-advertise PROGRAM [ARGS...]")
		os.Exit(2)
	}
	if _, subnet, err := net.ParseCIDR(os.Getenv("ELYSIACTL_OVERLAY_SUBNET")); err == nil && os.Getenv("CLUSTER_BIND_ADDR") == "" {
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && subnet.Contains(n.IP) {
				os.Setenv("CLUSTER_BIND_ADDR", n.IP.String())
				break
			}
		}
		if os.Getenv("CLUSTER_BIND_ADDR") == "" {
			fmt.Fprintln(os.Stderr, "elysiactl-advertise: no address in", subnet, "- is the task on the cluster's overlay network?")
			os.Exit(1)
		}
	}
	err := syscall.Exec(os.Args[1], os.Args[1:], os.Environ())
	fmt.Fprintln(os.Stderr, "elysiactl-advertise: exec", os.Args[1], err)
	os.Exit(127)
}
"#;

/// Where the helper is in the swarm image.
pub const HELPER_PATH: &str = "/bin/elysiactl-advertise";

/// Names the helper's version, so a changed helper makes a new swarm image.
pub fn swarm_helper_digest() -> String {
    crate::clients::docker::fingerprint(&ADVERTISE_HELPER_GO)[..8].to_string()
}

/// The Dockerfile of the swarm image: the Weaviate image with the helper in front.
fn swarm_dockerfile(base_image: &str) -> String {
    format!(
        "FROM {base_image}\n\
COPY elysiactl-advertise /bin/elysiactl-advertise\n\
ENTRYPOINT [\"/bin/elysiactl-advertise\", \"/bin/weaviate-server\"]\n\
CMD [\"--host\", \"0.0.0.0\", \"--port\", \"8080\", \"--scheme\", \"http\"]\n"
    )
}

/// Compile the helper (static, CGO off) with the Go that builds Weaviate.
fn build_advertise_helper() -> HostResult<Vec<u8>> {
    let go = std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("go"))
                .find(|p| p.is_file())
        })
        .ok_or_else(|| {
            HostError::fs("the swarm runtime builds a small helper with Go, and `go` is not on PATH")
                .with_hint("install Go (Debian: apt-get install golang-go), as `elysiactl install weaviate` needs too")
        })?;
    let dir = std::env::temp_dir().join(format!("elysiactl-advertise-{}", std::process::id()));
    let io = |what: &str, e: std::io::Error| HostError::io(format!("{what} {}", dir.display()), e);
    std::fs::create_dir_all(&dir).map_err(|e| io("cannot create", e))?;
    let result = (|| {
        std::fs::write(dir.join("main.go"), ADVERTISE_HELPER_GO)
            .map_err(|e| io("cannot write into", e))?;
        let out = std::process::Command::new(go)
            .args(["build", "-trimpath", "-o", "elysiactl-advertise", "main.go"])
            .current_dir(&dir)
            .env("CGO_ENABLED", "0")
            .output()
            .map_err(|e| io("cannot run go build in", e))?;
        if !out.status.success() {
            return Err(HostError::unknown(format!(
                "go build of the swarm helper failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
            .with_hint("check that `go version` works (Go 1.21 or newer)"));
        }
        std::fs::read(dir.join("elysiactl-advertise"))
            .map_err(|e| io("cannot read the build in", e))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Build the swarm runtime's image from the Weaviate image `base_image`:
/// the same server behind the helper above, tagged `image`.
pub async fn build_swarm_image(docker: &Docker, base_image: &str, image: &str) -> HostResult<()> {
    let helper = build_advertise_helper()?;
    let df = swarm_dockerfile(base_image);
    let context = dk::build_context(&[
        ("Dockerfile", 0o644, Some(df.as_bytes())),
        ("elysiactl-advertise", 0o755, Some(&helper)),
    ])?;
    let labels = BTreeMap::from([(OWNED_LABEL.to_string(), "true".to_string())]);
    dk::build_image(docker, context, image, &labels, "check that /var/lib/docker has free space and that the Weaviate image exists (`elysiactl install weaviate`)").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_runs_in_front_of_the_server_with_its_usual_arguments() {
        let df = swarm_dockerfile("elysiactl/weaviate:1.38.11");
        assert!(df.starts_with("FROM elysiactl/weaviate:1.38.11\n"), "{df}");
        assert!(
            df.contains(r#"ENTRYPOINT ["/bin/elysiactl-advertise", "/bin/weaviate-server"]"#),
            "{df}"
        );
        assert!(df.contains(r#"CMD ["--host", "0.0.0.0""#), "{df}");
        assert!(ADVERTISE_HELPER_GO.contains(r#"os.Setenv("CLUSTER_BIND_ADDR""#));
        assert_eq!(swarm_helper_digest().len(), 8);
    }
}
