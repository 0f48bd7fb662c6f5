//! The command tree (clap). Flags follow LinuxKit's CLI (spec/host.md §0, §3.10, §4).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Build and run minimal, immutable Linux systems.
///
/// A YAML file names a kernel, init images, containers to run at boot and as services,
/// and files to add; `linuxkit build` turns it into bootable images and `linuxkit run`
/// boots them.
#[derive(Debug, Parser)]
#[command(
    name = "linuxkit",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args)]
pub struct Global {
    /// Registry mirror, `[<registry>=]<url>`; repeatable. Also LINUXKIT_MIRROR.
    #[arg(long, global = true, value_name = "MIRROR")]
    pub mirror: Vec<String>,
    /// Extra CA certificate (PEM) for registry TLS; repeatable.
    #[arg(long = "cert-file", global = true, value_name = "FILE")]
    pub cert_file: Vec<PathBuf>,
    /// Only print errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log level: 0 quiet, 1 info, 2 debug, 3 trace.
    #[arg(short, long, global = true, value_name = "LEVEL", value_parser = clap::value_parser!(u8).range(0..=3))]
    pub verbose: Option<u8>,
}

// One value, parsed once at start-up: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build images from one or more YAML files (merged in order).
    Build(BuildArgs),
    /// Check YAML files without building: parse, merge, validate; no network.
    ///
    /// Exits 1 and prints every problem with file:line:column when a file is invalid.
    /// Suitable for a pre-commit hook.
    Validate(ValidateArgs),
    /// Boot an image (QEMU by default on Linux).
    Run(RunArgs),
    /// Build and push package images (`pkg/<name>` directories with a build.yml).
    #[command(subcommand)]
    Pkg(PkgCommand),
    /// Inspect and manage the local image cache.
    Cache(CacheArgs),
    /// Upload an image to a cloud provider.
    #[command(subcommand)]
    Push(ProviderCommand),
    /// Serve a directory over HTTP (for iPXE boot).
    Serve(ServeArgs),
    /// Create metadata for a VM.
    #[command(subcommand)]
    Metadata(MetadataCommand),
    /// Print the version.
    Version(VersionArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// YAML files, `-` for stdin, or http(s) URLs.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Output base name (default: the last file's name without extension).
    #[arg(long)]
    pub name: Option<String>,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Single streamable output file, `-` for stdout.
    #[arg(long = "o", value_name = "FILE")]
    pub output: Option<String>,
    /// Output format; repeatable or comma-separated (default kernel+initrd, or tar with --o).
    #[arg(short, long, value_delimiter = ',')]
    pub format: Vec<String>,
    /// Disk size of aws, qcow2-bios, vhd, dynamic-vhd, vmdk and gcp (`M` for MiB; `G` or no
    /// suffix for GiB). The FAT disks (raw-bios, raw-efi, qcow2-efi) and the ISOs are sized
    /// to their content.
    #[arg(long, default_value = "1024M")]
    pub size: String,
    /// Image with the boot loaders of the bootable formats (isolinux, GRUB, systemd-boot);
    /// `@pkg:DIR` for a package directory's tag. Default: the pinned `linuxkit/bootloaders`
    /// built from pkg/bootloaders.
    #[arg(long, value_name = "IMAGE")]
    pub bootloaders: Option<String>,
    /// Always pull images, even when cached.
    #[arg(long)]
    pub pull: bool,
    /// Look for images in the local Docker engine first.
    #[arg(long)]
    pub docker: bool,
    /// Decompress the kernel (gzip or bzImage with a gzip payload).
    #[arg(long)]
    pub decompress_kernel: bool,
    /// Compression of the initrd of kernel+initrd and tar-kernel-initrd: gzip (LinuxKit's),
    /// zstd (faster to build and to boot; needs a kernel with CONFIG_RD_ZSTD), none, or auto:
    /// zstd when the kernel image says it unpacks zstd (the label
    /// org.mobyproject.linuxkit.kernel.initrd-compression, as our kernel packages do), else gzip.
    #[arg(long, value_name = "auto|gzip|zstd|none", default_value = "auto")]
    pub initrd_compression: String,
    /// Architecture to build for: amd64 (x86_64), arm64 (aarch64) or riscv64; default this
    /// host's. Every image's entry for it is taken (an image without one fails, naming the
    /// platforms it has); BIOS formats are amd64 only.
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<lk_ops::build::Arch>,
    /// Image cache directory.
    #[arg(long, env = "LINUXKIT_CACHE", value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Reuse unchanged sections of a previous build's tar output.
    #[arg(long, value_name = "FILE")]
    pub input_tar: Option<PathBuf>,
    /// Do not add an SBOM to the image.
    #[arg(long)]
    pub no_sbom: bool,
    /// Path of the SBOM inside the image.
    #[arg(long, default_value = "sbom.spdx.json")]
    pub sbom_output: String,
    /// Stamp the SBOM with the current time instead of the fixed build time.
    #[arg(long)]
    pub sbom_current_time: bool,
    /// Print the merged, resolved configuration and exit.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ConfigFormat {
    /// YAML.
    Yaml,
    /// JSON, laid out as LinuxKit's `metadata: json` dump.
    Json,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// YAML files (merged in order) or `-` for stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Print the normalized, merged configuration in this format.
    #[arg(long, value_enum)]
    pub format: Option<ConfigFormat>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunArgs {
    /// Image path or prefix (backend chosen by host OS: qemu on Linux).
    #[arg(value_name = "PATH")]
    pub path: Option<String>,
    #[command(subcommand)]
    pub backend: Option<RunBackend>,
}

#[derive(Debug, Subcommand)]
pub enum RunBackend {
    /// Boot with QEMU (kernel+initrd, ISO, disk images; UEFI optional).
    Qemu(Box<QemuArgs>),
    /// Other backends LinuxKit has (hyperkit, virtualization, vbox, vmware, hyperv, aws, gcp, azure,
    /// openstack, equinixmetal, scaleway, vcenter).
    #[command(external_subcommand)]
    Other(Vec<String>),
}

#[derive(Debug, Args)]
pub struct QemuArgs {
    /// Image path or prefix.
    pub path: String,
    /// Number of CPUs.
    #[arg(long, default_value_t = 1)]
    pub cpus: u32,
    /// Memory in MB.
    #[arg(long, default_value_t = 1024)]
    pub mem: u32,
    /// Disk `[file=]path[,size=N[M|G]][,format=fmt]`; repeatable.
    #[arg(long)]
    pub disk: Vec<String>,
    /// Accelerator (default: kvm when a probe guest really runs under it, else tcg; the
    /// probe's result is kept in ~/.linuxkit/accel for this host boot and QEMU binary).
    /// Also LINUXKIT_QEMU_ACCEL.
    #[arg(long, env = "LINUXKIT_QEMU_ACCEL", value_name = "kvm|tcg|hvf|...")]
    pub accel: Option<lk_ops::run::Accel>,
    /// Boot an ISO image.
    #[arg(long)]
    pub iso: bool,
    /// Boot with UEFI firmware.
    #[arg(long)]
    pub uefi: bool,
    /// Boot a kernel+squashfs image: `<prefix>-kernel` with `<prefix>-squashfs.img` as the
    /// first disk and `root=/dev/sda`, plus `<prefix>-boot-initrd.img` when the build wrote
    /// one (it loads the modules a modular kernel needs to mount the root).
    #[arg(long, conflicts_with_all = ["erofs", "iso"])]
    pub squashfs: bool,
    /// Boot a kernel+erofs image (as --squashfs, with `<prefix>-erofs.img`).
    #[arg(long, conflicts_with = "iso")]
    pub erofs: bool,
    /// Boot kernel+initrd.
    #[arg(long)]
    pub kernel: bool,
    /// State directory (default `<prefix>-state`).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Metadata string passed to the VM.
    #[arg(long, conflicts_with = "data_file")]
    pub data: Option<String>,
    /// Metadata file passed to the VM.
    #[arg(long)]
    pub data_file: Option<PathBuf>,
    /// Firmware path for UEFI.
    #[arg(long)]
    pub fw: Option<PathBuf>,
    /// Architecture of the guest: amd64 (x86_64) or arm64 (aarch64; qemu-system-aarch64 -M
    /// virt, EDK2 for --uefi, under TCG on another host); riscv64 is refused. Default: the
    /// kernel's own arch when the image has a kernel file, else this host's.
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<lk_ops::run::Arch>,
    /// QEMU binary.
    #[arg(long)]
    pub qemu: Option<PathBuf>,
    /// Run in the background (QEMU -daemonize): prints the pid and returns; the console goes to
    /// <state>/console.log and the pid to <state>/qemu.pid (LinuxKit rejects this flag).
    #[arg(long)]
    pub detached: bool,
    /// Networking: user (default), tap,<if>, bridge,<br>, none. `user,KEY=VALUE,...` adds
    /// QEMU user-network options, e.g. `user,net=169.254.0.0/16,guestfwd=tcp:169.254.169.254:80-tcp:127.0.0.1:8080`
    /// serves a cloud's metadata address from a host port.
    #[arg(long)]
    pub networking: Option<String>,
    /// Forward a port: host:guest[/tcp|udp]; repeatable.
    #[arg(long)]
    pub publish: Vec<String>,
    /// Show a graphical console.
    #[arg(long)]
    pub gui: bool,
    /// Add a virtio-serial port for QEMU's guest agent (the qemu-ga package); its host side
    /// is the socket <state>/qga.sock.
    #[arg(long = "qemu-ga")]
    pub qemu_ga: bool,
    /// Give the VM a TPM 2.0 (swtpm; its state in <state>/tpm, kept between runs).
    #[arg(long)]
    pub tpm: bool,
    /// Machine type: q35 (default; PCI, firmware, every boot kind) or microvm (QEMU's
    /// minimal machine: virtio-mmio devices, no PCI or firmware; boots kernel+initrd and the
    /// root images only, faster to boot); arm64 guests boot on virt (the default there).
    #[arg(long, default_value = "q35", value_name = "q35|microvm|virt")]
    pub machine: lk_ops::run::Machine,
    /// Give the VM a vsock device (CID 3), served by vhost-device-vsock. Its host side is
    /// <state>/vsock.sock (hybrid vsock: write `CONNECT <port>`, read `OK ...`; guest
    /// connections to host port P arrive on <state>/vsock.sock_P), and the guest's
    /// port-forwarder can open host ports through it.
    #[arg(long)]
    pub vsock: bool,
    /// Guest vsock ports to offer on the host, comma separated (decimal or 0x hex): each
    /// becomes the Unix socket <state>/guest.<port as 8 hex digits> (as HyperKit names
    /// them: 2374 -> guest.00000946). Implies --vsock.
    #[arg(long = "vsock-ports", value_delimiter = ',', value_parser = vsock_port)]
    pub vsock_ports: Vec<u32>,
    /// Extra QEMU -device; repeatable.
    #[arg(long)]
    pub device: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum PkgCommand {
    /// Build package images.
    Build(PkgArgs),
    /// Build and push package images (same as `pkg build --push`).
    Push(PkgArgs),
    /// Print the tag a package would get.
    ShowTag {
        #[command(flatten)]
        common: PkgCommon,
        /// Print the canonical name (docker.io/...).
        #[arg(long)]
        canonical: bool,
        /// Package directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// Create and push a multi-arch index for a package.
    #[command(alias = "index")]
    Manifest {
        #[command(flatten)]
        common: PkgCommon,
        /// Also push the release tag.
        #[arg(long)]
        release: Option<String>,
        /// Package directory.
        dir: PathBuf,
    },
    /// Tag an image in a registry under another name.
    RemoteTag {
        #[command(flatten)]
        common: PkgCommon,
        /// Source reference.
        from: String,
        /// Destination reference.
        to: String,
    },
    /// Manage the package builder (du, prune).
    Builder {
        /// du or prune.
        action: String,
    },
}

#[derive(Debug, Args)]
pub struct PkgCommon {
    /// Registry org (default linuxkit). Also LINUXKIT_PKG_ORG.
    #[arg(long, env = "LINUXKIT_PKG_ORG")]
    pub org: Option<String>,
    /// build.yml file name.
    #[arg(long, default_value = "build.yml")]
    pub build_yml: String,
    /// Override the content hash.
    #[arg(long)]
    pub hash: Option<String>,
    /// Tag template (default `{{.Hash}}`).
    #[arg(long)]
    pub tag: Option<String>,
    /// Commit to hash (default HEAD).
    #[arg(long)]
    pub hash_commit: Option<String>,
    /// Directory to hash.
    #[arg(long)]
    pub hash_path: Option<PathBuf>,
    /// Treat the tree as dirty.
    #[arg(long)]
    pub force_dirty: bool,
    /// Development mode: org $USER, hash `dev`.
    #[arg(long)]
    pub dev: bool,
    /// Give builds the network (wins over build.yml's `network: false`).
    #[arg(long, conflicts_with = "nonetwork")]
    pub network: bool,
    /// Build without network (wins over build.yml's `network: true`).
    #[arg(long)]
    pub nonetwork: bool,
    /// Build every step afresh, no layer cache (wins over build.yml's `disable-cache`).
    #[arg(long, conflicts_with = "enable_cache")]
    pub disable_cache: bool,
    /// Use the engine's layer cache even where build.yml says `disable-cache: true`.
    #[arg(long)]
    pub enable_cache: bool,
    /// Registry credentials, REGISTRY=USER:PASSWORD or REGISTRY=TOKEN (Docker's base64
    /// `auth`, or an identity token); repeatable. Win over ~/.docker/config.json for pulls
    /// and pushes; the build engines keep their own logins.
    #[arg(long = "registry-creds", value_name = "REGISTRY=CREDS")]
    pub registry_creds: Vec<String>,
}

/// A pair of flags as the setting they override: `on` given, `off` given, or neither.
pub fn flag_pair(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (false, true) => Some(false),
        (false, false) => None,
    }
}

#[derive(Debug, Args)]
pub struct PkgArgs {
    #[command(flatten)]
    pub common: PkgCommon,
    /// Rebuild even if the image exists.
    #[arg(long, conflicts_with_all = ["nobuild", "pull"])]
    pub force: bool,
    /// Pull the platforms the cache lacks from the registry where it has them; build only
    /// the rest.
    #[arg(long)]
    pub pull: bool,
    /// Also load each platform's image into the local Docker engine (`<tag>-<arch>`, and
    /// `<tag>` for this host's). Implies --pull.
    #[arg(long)]
    pub docker: bool,
    /// With --push, also tag each platform `<tag>-<arch>` in the registry (default true;
    /// --manifest=false pushes the index alone).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    pub manifest: bool,
    /// Do not hand the Dockerfile's FROM images from the linuxkit cache to the engine: it
    /// uses its own store or pulls them (packages built for @lkt:pkg: arguments are still
    /// handed over).
    #[arg(long)]
    pub ignore_cached: bool,
    /// How the build's own output is shown: plain (its lines among ours, as they come), tty
    /// (the engine's display on the terminal) or auto (tty on a terminal, else plain).
    #[arg(long, default_value = "auto", value_name = "auto|plain|tty")]
    pub progress: lk_ops::pkg::Progress,
    /// SSH agent sockets or keys for the build (`default`, or ID=SOCKET|KEY[,...]: the
    /// Dockerfile's `RUN --mount=type=ssh`); repeatable.
    #[arg(long, value_name = "SPEC")]
    pub ssh: Vec<String>,
    /// Print the build command of each platform (the back end's own command line) instead
    /// of building; nothing is written or pushed.
    #[arg(long)]
    pub dry_run: bool,
    /// Build nothing: with --push, push what the cache has (LinuxKit's release flow:
    /// `pkg push --nobuild --release vX.Y.Z`).
    #[arg(long)]
    pub nobuild: bool,
    /// Dockerfile to build with, relative to the package directory (default: build.yml's
    /// `dockerfile`, else `Dockerfile`); for the packages named here, not the `@lkt:pkg:`
    /// packages their build arguments name.
    #[arg(long, value_name = "FILE")]
    pub dockerfile: Option<String>,
    /// Push after building.
    #[arg(long)]
    pub push: bool,
    /// Also push `<org>/<image>:<release>` (default: the git tags on HEAD).
    #[arg(long)]
    pub release: Option<String>,
    /// Platforms to build, e.g. linux/amd64,linux/arm64 (default: this host's, when
    /// build.yml's arches list it).
    #[arg(long, value_delimiter = ',', conflicts_with = "skip_platforms")]
    pub platforms: Vec<String>,
    /// Platforms not to build, e.g. linux/s390x (removed from the default).
    #[arg(long, value_delimiter = ',')]
    pub skip_platforms: Vec<String>,
    /// Build argument K=V; repeatable; wins over build.yml and --build-arg-file.
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// File of build arguments, K=V per line (`#` comments); `@lkt:pkg:DIR` relative to the
    /// file. Repeatable; wins over build.yml's buildArgs.
    #[arg(long = "build-arg-file", value_name = "FILE")]
    pub build_arg_files: Vec<PathBuf>,
    /// What builds the images: docker (a Docker engine: DOCKER_HOST, a Docker context, or
    /// the local socket), buildah (no daemon; as root, or rootless with subuids), or auto
    /// (a Docker engine that answers, else buildah). Same tags and cache layout either way.
    #[arg(long, default_value = "auto", value_name = "docker|buildah|auto")]
    pub builder: lk_ops::pkg::BuilderChoice,
    /// A Docker engine per platform, comma separated: linux/arm64=CONTEXT, or a
    /// DOCKER_HOST URL (unix://, tcp://, ssh://). Default: LINUXKIT_BUILDERS; a platform
    /// named in neither builds on a Docker context called linuxkit-<os>-<arch> if one
    /// exists, else with --builder's.
    #[arg(long, value_name = "PLATFORM=TARGET,...")]
    pub builders: Option<String>,
    /// How the image's layers are stored in the cache (and pushed): gzip (default, as
    /// docker and buildkit write them, readable by LinuxKit), zstd (OCI tar+zstd; smaller
    /// and faster, but LinuxKit cannot read it) or none.
    #[arg(long, default_value = "gzip", value_name = "gzip|zstd|none")]
    pub layer_compression: String,
    /// Image cache directory.
    #[arg(long, env = "LINUXKIT_CACHE", value_name = "DIR")]
    pub cache: Option<PathBuf>,
    #[command(flatten)]
    pub buildkit_only: BuildkitOnly,
    /// Package directories.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
}

/// LinuxKit's `pkg build` flags that configure its BuildKit container; accepted so that a
/// script using them gets a clear error naming the flag, not "unexpected argument".
#[derive(Debug, Args)]
pub struct BuildkitOnly {
    /// LinuxKit's BuildKit container name: not supported (no BuildKit container here).
    #[arg(long, value_name = "NAME")]
    pub builder_name: Option<String>,
    /// LinuxKit's BuildKit container image: not supported (no BuildKit container here).
    #[arg(long, value_name = "IMAGE")]
    pub builder_image: Option<String>,
    /// LinuxKit's buildkitd.toml for its container: not supported (no BuildKit container here).
    #[arg(long, value_name = "FILE")]
    pub builder_config: Option<PathBuf>,
    /// LinuxKit's restart of its BuildKit container: not supported (no BuildKit container here).
    #[arg(long)]
    pub builder_restart: bool,
    /// LinuxKit's pull of FROM images into the cache for BuildKit: not supported (the cache's
    /// images are loaded into the engine before every build already).
    #[arg(long)]
    pub precache_images: bool,
    /// LinuxKit's BuildKit SBOM scanner image: not supported (BuildKit attestations).
    #[arg(long, value_name = "IMAGE")]
    pub sbom_scanner: Option<String>,
}

impl BuildkitOnly {
    /// The first of these flags given, with why it is not supported.
    pub fn first_given(&self) -> Option<(&'static str, &'static str)> {
        const NO_CONTAINER: &str = "LinuxKit runs BuildKit in a container it manages; we build with a Docker engine or buildah (--builder) and run no BuildKit container";
        [
            (self.builder_name.is_some(), "--builder-name", NO_CONTAINER),
            (self.builder_image.is_some(), "--builder-image", NO_CONTAINER),
            (self.builder_config.is_some(), "--builder-config", NO_CONTAINER),
            (self.builder_restart, "--builder-restart", NO_CONTAINER),
            (
                self.precache_images,
                "--precache-images",
                "the FROM images in the linuxkit cache are loaded into the engine before every build already",
            ),
            (
                self.sbom_scanner.is_some(),
                "--sbom-scanner",
                "SBOM attestations are made by BuildKit's scanner, which we do not run",
            ),
        ]
        .into_iter()
        .find_map(|(given, flag, why)| given.then_some((flag, why)))
    }
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Image cache directory (default ~/.linuxkit/cache). Unlike LinuxKit, LINUXKIT_CACHE is
    /// honoured here too.
    #[arg(long, global = true, env = "LINUXKIT_CACHE", value_name = "DIR")]
    pub cache: Option<PathBuf>,
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List cached images.
    Ls {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// Remove images (shared layers of other images are kept).
    Rm {
        /// Only remove images whose digest matches the registry's.
        #[arg(long)]
        published_only: bool,
        /// Image names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove every cached image.
    Clean {
        /// Only remove images whose digest matches the registry's.
        #[arg(long)]
        published_only: bool,
    },
    /// Export an image as an OCI layout tar, docker-save tar, or flattened filesystem tar.
    Export {
        /// Platform (default linux/<host>).
        #[arg(long)]
        platform: Option<String>,
        /// Output file, `-` for stdout.
        #[arg(long, required = true)]
        outfile: String,
        /// oci, docker or filesystem.
        #[arg(long, default_value = "oci")]
        format: String,
        /// Reference to record in the tar.
        #[arg(long)]
        name: Option<String>,
        /// Image name.
        image: String,
    },
    /// Import an OCI layout tar or directory, or a `docker save` tar (`-` for stdin).
    Import {
        /// Tar file, OCI layout directory, or `-`.
        file: String,
    },
    /// Pull images into the cache (names without a tag get `:latest`).
    Pull {
        /// Platform to pull, os/arch[/variant]; repeatable (default linux/<host arch>).
        #[arg(long)]
        platform: Vec<String>,
        /// Registry host reachable over plain http (loopback hosts always are); repeatable.
        #[arg(long)]
        insecure_registry: Vec<String>,
        /// Copy the images from the local Docker engine instead of a registry.
        #[arg(long)]
        docker: bool,
        /// With --docker: store the engine's plain layers as gzip (default, what LinuxKit
        /// and registries expect), zstd (OCI tar+zstd; LinuxKit cannot read it) or none.
        #[arg(long, default_value = "gzip", value_name = "gzip|zstd|none")]
        layer_compression: String,
        /// Image names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Push cached images to their registry.
    Push {
        /// Registry host reachable over plain http (loopback hosts always are); repeatable.
        #[arg(long)]
        insecure_registry: Vec<String>,
        /// Push under another name.
        #[arg(long)]
        remote_name: Option<String>,
        /// Also push per-architecture tags.
        #[arg(long)]
        with_arch_tags: bool,
        /// Push even if the registry has the image.
        #[arg(long = "override")]
        override_existing: bool,
        /// Image names.
        #[arg(required = true)]
        names: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    /// `image name` and `root manifest hash` columns, as LinuxKit prints them.
    Table,
    /// A JSON array of {name, digest, media_type}.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Providers: aws, gcp, azure, openstack, equinixmetal, scaleway, vcenter.
    #[command(external_subcommand)]
    Provider(Vec<String>),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = ":8080")]
    pub port: String,
    /// Directory to serve.
    #[arg(long, default_value = ".")]
    pub directory: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum MetadataCommand {
    /// Write an ISO9660 image holding the file `config` with DATA.
    Create {
        /// Output ISO file.
        file: PathBuf,
        /// Metadata contents.
        data: String,
    },
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print just the version number.
    #[arg(long)]
    pub short: bool,
    /// Print just the git commit.
    #[arg(long)]
    pub commit: bool,
}

fn vsock_port(s: &str) -> Result<u32, String> {
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|_| format!("{s:?} is not a port (decimal or 0x hex)"))
}

impl QemuArgs {
    /// `linuxkit run PATH` on Linux: QEMU with the defaults `run qemu PATH` has (clap's
    /// own, environment fallbacks included).
    pub fn defaults(path: &str) -> Result<QemuArgs, clap::Error> {
        use clap::{Args, FromArgMatches};
        let cmd = QemuArgs::augment_args(clap::Command::new("qemu"));
        QemuArgs::from_arg_matches(&cmd.try_get_matches_from(["qemu", path])?)
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn run_path_has_the_qemu_defaults() {
        let q = super::QemuArgs::defaults("img").unwrap();
        assert_eq!((q.path.as_str(), q.cpus, q.mem), ("img", 1, 1024));
        assert!(q.disk.is_empty() && !q.uefi && q.networking.is_none());
    }

    #[test]
    fn vsock_ports_take_decimal_and_hex_comma_separated() {
        use clap::{Args, FromArgMatches};
        let cmd = super::QemuArgs::augment_args(clap::Command::new("qemu"));
        let m = cmd
            .clone()
            .try_get_matches_from(["qemu", "--vsock-ports", "2374,0xf3a4", "img"])
            .unwrap();
        let q = super::QemuArgs::from_arg_matches(&m).unwrap();
        assert_eq!(q.vsock_ports, [2374, 0xf3a4]);
        let bad = cmd.try_get_matches_from(["qemu", "--vsock-ports", "x", "img"]);
        assert!(bad.unwrap_err().to_string().contains("not a port"));
    }
}
