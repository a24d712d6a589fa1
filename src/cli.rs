//! Command-line definitions. Parsing only: the app layer ([`crate::app`]) turns them into
//! requests for the stages; no stage imports this module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::ui::ColorChoice;
use crate::kconfig::KernelSelector;
use crate::strip::Strategy;

/// `dkwrap --version`: the crate version and the git revision it was built from (build.rs:
/// `DKWRAP_GIT_REV`, else `git rev-parse --short HEAD`, else "unknown").
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("DKWRAP_GIT_REV"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "dkwrap",
    version = VERSION,
    about = "Make DKMS builds of out-of-tree kernel modules safe on clang/ThinLTO kernels",
    long_about = "Make DKMS builds of out-of-tree kernel modules safe on clang/ThinLTO kernels.\n\n\
        GNU strip corrupts modules linked by ld.lld with ThinLTO (it prints `BFD ... assertion fail` \
        and still exits 0). dkwrap detects the kernel's toolchain, builds with a consistent LLVM \
        toolchain, strips with a tool that is correct for the module, proves every output equal to \
        its input minus debug information, and explains broken NVIDIA/DKMS installs.\n\n\
        Invoked as `strip`, `llvm-strip` or `make` (the links of the shim directory that \
        `dkwrap dkms install-integration` puts first on dkms's PATH), dkwrap is a GNU-compatible \
        strip drop-in for kernel modules, or runs module builds as `dkwrap make`.",
    after_long_help = crate::exit::help_text()
)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Print only failures (errors, rejected modules, problems).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Colour verdict words: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, value_name = "WHEN")]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Each subcommand's arguments are built only when it runs: dkms and Kbuild start
// `dkwrap strip` once per module, and building every command's arguments costs each start.
#[command(defer = true)]
pub enum Command {
    /// Tell which compiler, linker and LTO mode built a kernel, and which tools match it.
    Detect(DetectArgs),
    /// Strip debug information from modules (drop-in for `strip -g`), verified and atomic.
    Strip(StripArgs),
    /// Check modules the way the kernel's loader does; with --against, prove a stripped
    /// module equals its original minus debug information.
    Verify(VerifyArgs),
    /// Run a module build (the DKMS MAKE stage) with a consistent toolchain, then strip and
    /// verify what it built. Without --kernel/--kernel-dir/--config the kernel is taken from
    /// the make command (O=, -C, SYSSRC=, KERNELDIR=, KERNEL_UNAME=, ...), else the running one.
    Make(MakeArgs),
    /// Build a package for several kernels at once (the CI and distro case): one copy of the
    /// source tree per kernel, all builds under one job budget (a shared GNU make jobserver),
    /// each stripped and verified as `make` does; prints a kernel x module table. With
    /// --emit-ci-matrix, prints the kernels as a JSON matrix for a CI system and builds nothing.
    Matrix(MatrixArgs),
    /// Explain why the NVIDIA driver does not work on this machine, or will not after the next
    /// reboot (read-only; Debian/Ubuntu, Fedora/RHEL, Arch/CachyOS/Manjaro).
    Doctor(DoctorArgs),
    /// Explain build logs (`BFD ... assertion fail elf.c:4131`, dkms output, make.log) and
    /// modules: what each recognised line means, why GNU strip breaks this module, and with
    /// --try what every strip tool here does to it, proven.
    Explain(ExplainArgs),
    /// Print a shell completion script on stdout (packages install it; see the long help).
    #[command(long_about = "Print a shell completion script on stdout.\n\n\
        The packages install it. After `cargo install`:\n  \
        dkwrap completions bash > ~/.local/share/bash-completion/completions/dkwrap\n  \
        dkwrap completions zsh > ~/.zfunc/_dkwrap   (with fpath+=~/.zfunc before compinit)\n  \
        dkwrap completions fish > ~/.config/fish/completions/dkwrap.fish")]
    Completions(CompletionsArgs),
    /// Write the man pages (packagers): dkwrap.1 and one per subcommand, or print one.
    #[command(hide = true)]
    Man(ManArgs),
    /// Make every dkms build on this machine go through dkwrap, without editing any
    /// module's dkms.conf (install-integration, remove-integration, status).
    Dkms(DkmsArgs),
}

// Which kernel to act for. Without any, the running kernel. (A plain comment: a doc comment
// here would become the `about` of every command that flattens it, its arguments being
// built after the command's own `about` under `defer`.)
#[derive(Debug, Clone, Args)]
pub struct KernelArgs {
    /// Kernel release (uses /lib/modules/KVER/build, /boot/config-KVER, /proc/config.gz).
    #[arg(long, value_name = "KVER", conflicts_with_all = ["kernel_dir", "config"])]
    pub kernel: Option<String>,
    /// Kernel build directory (a tree with .config or include/config/auto.conf).
    #[arg(long, value_name = "DIR", conflicts_with = "config")]
    pub kernel_dir: Option<PathBuf>,
    /// Kernel configuration file (.config, auto.conf or config.gz).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Look for /lib/modules, /boot and /proc under this directory (a mounted system image).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

impl KernelArgs {
    pub fn selector(&self) -> KernelSelector {
        KernelSelector {
            release: self.kernel.clone(),
            dir: self.kernel_dir.clone(),
            config: self.config.clone(),
            root: self.root.clone(),
        }
    }
    pub fn given(&self) -> bool {
        self.kernel.is_some() || self.kernel_dir.is_some() || self.config.is_some()
    }
    /// Which flag chose the kernel, in words.
    pub fn selected_by(&self) -> &'static str {
        if self.kernel_dir.is_some() {
            "--kernel-dir"
        } else if self.kernel.is_some() {
            "--kernel"
        } else if self.config.is_some() {
            "--config"
        } else {
            "running kernel"
        }
    }
}

#[derive(Debug, Args)]
pub struct DetectArgs {
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// A module whose .comment is cross-checked against the kernel's compiler.
    #[arg(long, value_name = "FILE.ko")]
    pub module: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `--strategy` (the stage's [`Strategy`], with its help texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// llvm-strip for clang kernels (native if missing); GNU strip for GCC kernels unless
    /// the module has a layout GNU strip corrupts.
    Auto,
    /// llvm-strip matched to the kernel's clang.
    Llvm,
    /// dkwrap's own section-level rewriter (no binutils needed).
    Native,
    /// Leave the module unstripped.
    Skip,
    /// GNU strip -g (only when asked for, or chosen by auto for GCC kernels).
    Gnu,
}

impl From<StrategyArg> for Strategy {
    fn from(s: StrategyArg) -> Strategy {
        match s {
            StrategyArg::Auto => Strategy::Auto,
            StrategyArg::Llvm => Strategy::Llvm,
            StrategyArg::Native => Strategy::Native,
            StrategyArg::Skip => Strategy::Skip,
            StrategyArg::Gnu => Strategy::Gnu,
        }
    }
}

#[derive(Debug, Args)]
pub struct StripArgs {
    /// Remove debugging sections only (the only mode; accepted for compatibility).
    #[arg(short = 'g', long = "strip-debug")]
    pub strip_debug: bool,
    /// Write the result here instead of replacing FILE (only with one FILE). FILE is only
    /// read; like `strip -o`, OUT is not flushed to disk unless --fsync is given.
    #[arg(short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// With -o: flush OUT to disk before it takes its name. (Replacing FILE in place always
    /// flushes: one file on its own, several in one pass before their renames.)
    #[arg(long, requires = "output")]
    pub fsync: bool,
    #[arg(long, value_enum, default_value_t = StrategyArg::Auto)]
    pub strategy: StrategyArg,
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// Append one JSON record per file to this manifest.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Strip signed modules too (the signature is dropped; re-sign afterwards).
    #[arg(long)]
    pub allow_unsign: bool,
    /// Strip a signed module, then sign it again with the kernel's scripts/sign-file, the
    /// digest of its original signature and --sign-key/--sign-cert (default: dkms's MOK pair
    /// /var/lib/dkms/mok.key and mok.pub); the target is replaced only once signed.
    #[arg(long)]
    pub resign: bool,
    /// Private key for --resign.
    #[arg(long, value_name = "KEY", requires = "resign")]
    pub sign_key: Option<PathBuf>,
    /// Certificate for --resign.
    #[arg(long, value_name = "CERT", requires = "resign")]
    pub sign_cert: Option<PathBuf>,
    /// sign-file for --resign (default: scripts/sign-file of the kernel build directory:
    /// --kernel-dir, --kernel, else the running kernel's).
    #[arg(long, value_name = "PATH", requires = "resign")]
    pub sign_file: Option<PathBuf>,
    /// Print the per-file records as JSON.
    #[arg(long)]
    pub json: bool,
    /// Modules to strip (.ko, .ko.zst, .ko.xz, .ko.gz).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// The unstripped original: prove FILE equals it minus debug information.
    #[arg(long, value_name = "ORIGINAL")]
    pub against: Option<PathBuf>,
    /// sizeof(struct module) of the target kernel, checked against .gnu.linkonce.this_module.
    #[arg(long, value_name = "BYTES")]
    pub this_module_size: Option<u64>,
    /// A module built against the same kernel; its .gnu.linkonce.this_module size is the reference.
    #[arg(long, value_name = "FILE.ko", conflicts_with = "this_module_size")]
    pub reference: Option<PathBuf>,
    #[command(flatten)]
    pub boot: BootArgs,
    /// Check that each module's appended signature is valid for its bytes with this
    /// certificate (PEM or DER, e.g. dkms's /var/lib/dkms/mok.pub), through openssl.
    #[arg(long, value_name = "CERT")]
    pub cert: Option<PathBuf>,
    /// Machine-readable output (every module, passed or not).
    #[arg(long)]
    pub json: bool,
    /// Check the modules installed in /lib/modules/KVER (under --root) with that kernel's own
    /// configuration and Module.symvers: the running kernel, --kernel KVER, or --all-kernels.
    #[arg(long, conflicts_with_all = ["files", "against", "kernel_dir", "config"])]
    pub installed: bool,
    /// With --installed: every kernel in /lib/modules.
    #[arg(long, requires = "installed", conflicts_with = "kernel")]
    pub all_kernels: bool,
    /// With --installed: only modules outside the kernel package's own tree (updates/,
    /// extra/, dkms/, ...).
    #[arg(long, requires = "installed")]
    pub out_of_tree: bool,
    /// Modules to check (.ko, .ko.zst, .ko.xz, .ko.gz), or directories to search for them.
    /// Modules named together resolve symbols against each other's exports.
    #[arg(required_unless_present = "installed", value_name = "FILE|DIR")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MakeArgs {
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// Modules the build produces (comma-separated), relative to the M= directory (else the
    /// make directory); default: every .ko newer than the build start under the M= directories.
    #[arg(long, value_delimiter = ',', value_name = "PATH.ko,...")]
    pub modules: Vec<PathBuf>,
    /// Strip strategy for the built modules.
    #[arg(long, value_enum, default_value_t = StrategyArg::Auto)]
    pub strategy: StrategyArg,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// After a successful build, boot IMAGE (default: ROOT/boot/vmlinuz-KVER of the kernel
    /// built for) under qemu and load the built modules into it, as `verify --boot` does.
    /// Also asked for by DKWRAP_BOOT_TEST=1 (or =IMAGE) in the environment (dkms builds).
    #[arg(long, value_name = "IMAGE", num_args = 0..=1)]
    pub boot_test: Option<Option<PathBuf>>,
    /// The make command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "MAKE COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// A kernel build directory; repeat once per kernel.
    #[arg(long = "kernel-dir", value_name = "DIR")]
    pub kernel_dirs: Vec<PathBuf>,
    /// A kernel release (its tree is /lib/modules/KVER/build); repeatable.
    #[arg(long = "kernel", value_name = "KVER")]
    pub releases: Vec<String>,
    /// Look for /lib/modules under this directory (with --kernel).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Job slots for all builds together (a shared GNU make jobserver; the make command's own
    /// -jN is removed). Default: the command's -jN, else the number of CPUs.
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Where each kernel's copy of the source tree (DIR/LABEL/) and its make log
    /// (DIR/LABEL.make.log) go; a copy dkwrap made earlier is replaced.
    #[arg(long, value_name = "DIR", default_value = ".dkwrap-matrix")]
    pub build_root: PathBuf,
    /// Modules the build produces (comma-separated), as for `make`.
    #[arg(long, value_delimiter = ',', value_name = "PATH.ko,...")]
    pub modules: Vec<PathBuf>,
    /// Strip strategy for the built modules.
    #[arg(long, value_enum, default_value_t = StrategyArg::Auto)]
    pub strategy: StrategyArg,
    /// Print the results as JSON (one record per kernel x module cell).
    #[arg(long)]
    pub json: bool,
    /// Print the kernels as a JSON matrix ({"include": [...]}, for GitHub Actions'
    /// `strategy.matrix: ${{ fromJSON(...) }}`) and build nothing.
    #[arg(long)]
    pub emit_ci_matrix: bool,
    /// The make command and its arguments, after `--`.
    #[arg(last = true, value_name = "MAKE COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Read the system under this directory (a mounted image or a test tree).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The kernel module to diagnose.
    #[arg(long, default_value = "nvidia")]
    pub module: String,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Logs (make.log, dkms output, pacman.log, apt's term.log, journalctl text, strip's
    /// stderr) and modules (.ko, .ko.zst/.xz/.gz) in any order, told apart by content;
    /// `-` reads standard input.
    #[arg(required = true, value_name = "LOG|MODULE")]
    pub inputs: Vec<PathBuf>,
    /// Run every strip tool found (GNU strip, llvm-strip[-NN], eu-strip, dkwrap native) on a
    /// temporary copy of each module and prove each output.
    #[arg(long = "try")]
    pub try_tools: bool,
    /// Another strip tool to try (repeatable; implies --try).
    #[arg(long = "tool", value_name = "PATH")]
    pub tools: Vec<PathBuf>,
    /// Seconds each tool may run under --try.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

// `verify --boot`: load the modules into a real kernel in a VM. (A plain comment: see
// KernelArgs.)
#[derive(Debug, Clone, Args)]
pub struct BootArgs {
    /// Also boot this kernel image (e.g. /boot/vmlinuz-KVER) under qemu and load the modules
    /// into it, dependencies first (from .modinfo depends=): the kernel's own verdict. With
    /// --installed, IMAGE may be left out: each kernel's own ROOT/boot/vmlinuz-KVER is booted
    /// with its out-of-tree modules (updates/, extra/, dkms/, ...).
    #[arg(long, value_name = "IMAGE", num_args = 0..=1)]
    pub boot: Option<Option<PathBuf>>,
    /// Where dependencies are looked for besides each module's directory (repeatable; e.g.
    /// /lib/modules/KVER/kernel).
    #[arg(long, value_name = "DIR", requires = "boot")]
    pub boot_search: Vec<PathBuf>,
    /// The qemu to run (default: qemu-system-x86_64 on PATH).
    #[arg(long, value_name = "PATH", requires = "boot")]
    pub qemu: Option<PathBuf>,
    /// Seconds the VM may run before it counts as hung.
    #[arg(long, value_name = "SECS", default_value_t = 180, requires = "boot")]
    pub boot_timeout: u64,
}

// `dkwrap completions SHELL`. (A plain comment: see KernelArgs.)
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

// Hidden: `dkwrap man --out DIR` (packaging), `dkwrap man [SUBCOMMAND] | man -l -`. (A plain comment: see KernelArgs.)
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write every page (dkwrap.1, dkwrap-strip.1, ...) into this directory.
    #[arg(long, value_name = "DIR", conflicts_with = "page")]
    pub out: Option<std::path::PathBuf>,
    /// Print this subcommand's page (`strip`, or `dkms install-integration`) instead of dkwrap.1.
    #[arg(value_name = "SUBCOMMAND")]
    pub page: Vec<String>,
}

// `dkwrap dkms ACTION`. (A plain comment: see KernelArgs.)
#[derive(Debug, Args)]
pub struct DkmsArgs {
    #[command(subcommand)]
    pub action: DkmsAction,
}

#[derive(Debug, Subcommand)]
pub enum DkmsAction {
    /// Put dkwrap's shim (make, strip, llvm-strip) first on dkms's PATH and verify the
    /// installed out-of-tree modules after each dkms transaction: a framework.conf.d drop-in
    /// (build_environment, post_transaction) on dkms >= 3.3, a dkms wrapper in
    /// /usr/local/sbin on dkms 3.0-3.2. Idempotent; never overwrites a file dkwrap did not
    /// write (exit 14).
    InstallIntegration(IntegrationArgs),
    /// Remove every file install-integration wrote (files changed since are kept, and named).
    RemoveIntegration(IntegrationArgs),
    /// Show the dkms version, the integration it needs and the state of dkwrap's files
    /// (exit 0 when installed, intact and matching the dkms version; 11 otherwise).
    Status(IntegrationArgs),
}

#[derive(Debug, Args)]
pub struct IntegrationArgs {
    /// The real dkms (default: the first dkms on PATH that is not dkwrap's wrapper).
    #[arg(long, value_name = "PATH")]
    pub dkms: Option<PathBuf>,
    /// Install under DIR instead of / (for tests and staging): files go under DIR and the
    /// paths written into them point under DIR too.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub prefix: PathBuf,
    /// dkms 3.0-3.2: put the dkms wrapper here instead of /usr/local/sbin/dkms (the Debian
    /// package diverts /usr/sbin/dkms with dpkg-divert and passes /usr/sbin/dkms).
    #[arg(long, value_name = "PATH")]
    pub wrapper: Option<PathBuf>,
}
