//! Command-line definitions. Parsing only: the app layer ([`crate::app`]) turns them into
//! requests for the stages; no stage imports this module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::ui::ColorChoice;
use crate::kconfig::KernelSelector;
use crate::strip::Strategy;

#[derive(Debug, Parser)]
#[command(
    name = "dkwrap",
    version,
    about = "Make DKMS builds of out-of-tree kernel modules safe on clang/ThinLTO kernels",
    long_about = "Make DKMS builds of out-of-tree kernel modules safe on clang/ThinLTO kernels.\n\n\
        GNU strip corrupts modules linked by ld.lld with ThinLTO (it prints `BFD ... assertion fail` \
        and still exits 0). dkwrap detects the kernel's toolchain, builds with a consistent LLVM \
        toolchain, strips with a tool that is correct for the module, proves every output equal to \
        its input minus debug information, and explains broken NVIDIA/DKMS installs.\n\n\
        Invoked as `strip` (a symlink), dkwrap behaves as `dkwrap strip`.",
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
}

/// Which kernel to act for. Without any, the running kernel.
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
    /// Write the result here instead of replacing FILE (only with one FILE).
    #[arg(short = 'o', value_name = "OUT")]
    pub output: Option<PathBuf>,
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
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Modules to check (.ko, .ko.zst, .ko.xz, .ko.gz).
    #[arg(required = true, value_name = "FILE")]
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
