//! Images: list, look up, and build from a tar context.

use super::errors::{engine_error, is_not_found};
use super::models::ImageInfo;
use super::{owned, short_id, Docker};
use crate::base::error::{HostError, HostResult};
use bollard::errors::Error as BollardError;
use bollard::image::{BuildImageOptions, BuilderVersion, ListImagesOptions};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::time::Duration;

/// One entry of an image build context: a file with its bytes, or a
/// folder (`None`), with its mode.
pub type ContextEntry<'a> = (&'a str, u32, Option<&'a [u8]>);

/// A build context as an in-memory tar of `entries`, in order.
pub fn build_context(entries: &[ContextEntry]) -> HostResult<Vec<u8>> {
    let io = |e: std::io::Error| HostError::io("cannot assemble the image build context", e);
    let size: usize = entries
        .iter()
        .filter_map(|(_, _, b)| b.map(<[u8]>::len))
        .sum();
    let mut b = tar::Builder::new(Vec::with_capacity(size + 4096));
    for (path, mode, bytes) in entries {
        match bytes {
            Some(data) => b.append(
                &tar_header(path, data.len() as u64, *mode, tar::EntryType::Regular),
                *data,
            ),
            None => b.append(
                &tar_header(path, 0, *mode, tar::EntryType::Directory),
                std::io::empty(),
            ),
        }
        .map_err(io)?;
    }
    b.into_inner().map_err(io)
}

/// A build context entry's tar header, with a fixed owner and time so the
/// same files make the same context (and the engine's cache holds).
fn tar_header(path: &str, size: u64, mode: u32, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    // A fixed time keeps the context identical between builds.
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mode(mode);
    h.set_size(size);
    h.set_entry_type(kind);
    let _ = h.set_path(path);
    h.set_cksum();
    h
}

pub async fn list_images(docker: &Docker) -> HostResult<Vec<ImageInfo>> {
    let list = docker
        .list_images(Some(ListImagesOptions::<String> {
            all: false,
            ..Default::default()
        }))
        .await
        .map_err(|e| engine_error("cannot list images", e))?;
    let mut out: Vec<ImageInfo> = list
        .into_iter()
        .map(|i| {
            let labels: BTreeMap<String, String> = i.labels.into_iter().collect();
            ImageInfo {
                id: short_id(&i.id),
                tags: i
                    .repo_tags
                    .into_iter()
                    .filter(|t| t != "<none>:<none>")
                    .collect(),
                size_bytes: i.size,
                created: i.created,
                owned: owned(&labels),
                labels,
            }
        })
        .collect();
    out.sort_by(|a, b| a.tags.cmp(&b.tags));
    Ok(out)
}

/// The image's ID, or None when it does not exist.
pub async fn image_id(docker: &Docker, image: &str) -> HostResult<Option<String>> {
    match docker.inspect_image(image).await {
        Ok(i) => Ok(i.id),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(engine_error(&format!("cannot inspect image {image}"), e)),
    }
}

/// Whether the image exists locally (false also when the engine does not answer).
pub async fn image_exists(docker: &Docker, image: &str) -> bool {
    matches!(image_id(docker, image).await, Ok(Some(_)))
}

/// Build `image` from a build context (a tar holding the Dockerfile and
/// what it copies), with the classic builder and no registry, the labels on
/// the image. When the build itself fails, the error quotes its last output
/// lines and carries `failed_hint`.
pub async fn build_image(
    docker: &Docker,
    context: Vec<u8>,
    image: &str,
    labels: &BTreeMap<String, String>,
    failed_hint: &str,
) -> HostResult<()> {
    let options = BuildImageOptions::<String> {
        dockerfile: "Dockerfile".into(),
        t: image.to_string(),
        rm: true,
        forcerm: true,
        pull: false,
        labels: labels.clone().into_iter().collect(),
        version: BuilderVersion::BuilderV1,
        ..Default::default()
    };
    // Sending a context of a few hundred MB and committing the layer can
    // outlast the default 2 minutes.
    let patient = docker.clone().with_timeout(Duration::from_secs(900));
    let mut stream = patient.build_image(options, None, Some(context.into()));
    let mut last: Vec<String> = Vec::new();
    let mut remember = |line: &str| {
        for l in line.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
            tracing::debug!("docker build: {l}");
            last.push(l.to_string());
            if last.len() > 15 {
                last.remove(0);
            }
        }
    };
    let failed = |last: &[String]| {
        HostError::unknown(format!(
            "building image {image} failed; last output:\n  {}",
            last.join("\n  ")
        ))
        .with_hint(failed_hint)
    };
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(s) = info.stream.as_deref().or(info.status.as_deref()) {
                    remember(s);
                }
                if let Some(err) = info.error {
                    remember(&err);
                    return Err(failed(&last));
                }
            }
            Err(BollardError::DockerStreamError { error }) => {
                remember(&error);
                return Err(failed(&last));
            }
            Err(e) => {
                let mut err = engine_error(&format!("cannot build image {image}"), e);
                if !last.is_empty() {
                    err.message
                        .push_str(&format!("\nlast build output:\n  {}", last.join("\n  ")));
                }
                return Err(err);
            }
        }
    }
    if image_id(docker, image).await?.is_none() {
        return Err(failed(&last));
    }
    Ok(())
}
