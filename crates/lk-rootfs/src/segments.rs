//! The stream's segments (see [`lk_formats::segment`]): the kernel, each init image, each
//! volume, each container's filesystem, each container's bundle files, and the `files`
//! section with the SBOM. Each but the last (and sections copied from `--input-tar`) gets
//! an id of everything that determines its entries; when every output already has the
//! segment and its effect on the parent directories is recorded, its images are not read.

use lk_formats::segment::SegmentIdBuilder;
use lk_formats::{SegmentId, Sink};
use lk_image::PinnedImage;

use crate::assemble::Assembler;
use crate::error::AssembleError;
use crate::flatten::IndexCache;

/// Record kind of a segment's effect on the rootfs stage's state.
const RECORD: &str = "rootfs";

/// Bumped whenever the entries a segment produces change for the same inputs.
const STREAM_VERSION: &[u8] = b"1";

/// The start of an id: the segment's kind, the stream version and the image, if any.
pub(crate) fn id(kind: &str, image: Option<&PinnedImage>) -> SegmentIdBuilder {
    let b = SegmentId::builder(kind).field("stream", STREAM_VERSION);
    match image {
        Some(i) => b
            .field("image", i.canonical().as_bytes())
            .field(
                "manifest",
                i.image.manifest_descriptor.digest.to_string().as_bytes(),
            )
            .field(
                "layers",
                &[u8::from(lk_image::unsupported_layer(&i.image).is_some())],
            ),
        None => b,
    }
}

/// Bumped whenever what pass 1 of flattening records of a layer changes.
const INDEX_VERSION: &[u8] = b"1";

/// Where flattening keeps its per-layer index for `image`, when there is a store.
pub(crate) fn index_cache<'o>(
    options: &'o crate::RootfsOptions,
    image: &PinnedImage,
) -> Option<IndexCache<'o>> {
    let store = options.segments.as_ref()?;
    let keys = image
        .image
        .manifest
        .layers
        .iter()
        .map(|l| {
            SegmentId::builder("layer-index")
                .field("version", INDEX_VERSION)
                .field("digest", l.digest.to_string().as_bytes())
                .build()
        })
        .collect();
    Some(IndexCache { store, keys })
}

impl Assembler<'_, '_> {
    /// Runs `body` as one segment whose entries all lie under `prefix` (`""`: anywhere).
    /// With an id, the segment is skipped when every output already has it.
    pub(crate) fn segment(
        &mut self,
        id: Option<SegmentIdBuilder>,
        prefix: &str,
        body: impl FnOnce(&mut Self) -> Result<(), AssembleError>,
    ) -> Result<(), AssembleError> {
        let id = id.map(|b| {
            b.field(
                "mtime",
                &self
                    .options
                    .source_date_epoch
                    .unwrap_or(u64::MAX)
                    .to_le_bytes(),
            )
            .field("prefix", prefix.as_bytes())
            .field("dirs", &self.sink.visible(prefix))
            .build()
        });
        let have = self
            .sink
            .begin_segment(id.as_ref())
            .map_err(AssembleError::Write)?;
        let store = self.options.segments.as_ref();
        if have
            && let (Some(id), Some(store)) = (&id, store)
            && let Some(record) = store.read(id, RECORD)
            && self.sink.replay(&record)
        {
            self.skipped += 1;
            return self.sink.end_segment().map_err(AssembleError::Write);
        }
        self.sink.begin_journal();
        body(self)?;
        let effect = self.sink.end_journal();
        self.sink.end_segment().map_err(AssembleError::Write)?;
        if let (Some(id), Some(store)) = (&id, store)
            && !store.contains(id, RECORD)
        {
            // A cache: a record that cannot be written only costs a later build time.
            let _ = store.write(id, RECORD, &effect);
        }
        Ok(())
    }
}
