//! `gradschool launch -n N <command> …`: runs a training command data-parallel on N ranks by
//! starting `mpirun` with the flags this machine needs, so a student need not learn them first.

use super::args::at_least_one;
use clap::Args;
use gradschool::{Error, Result};
use std::process::Command;

/// Flags of `gradschool launch`.
#[derive(Args, Debug)]
pub struct LaunchArgs {
    /// Ranks (processes) to start.
    #[arg(short = 'n', long, value_parser = at_least_one)]
    ranks: usize,
    /// Compute threads per rank (RAYON_NUM_THREADS): 1 keeps N ranks on N cores from fighting
    /// over them.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    threads: usize,
    /// Machines and their slots, passed to mpirun's --host (e.g. `a:2,b:2`); the binary and the
    /// data must be at the same path on each, and the output folder on a shared filesystem for
    /// --resume.
    #[arg(long)]
    host: Option<String>,
    /// The MPI launcher to run.
    #[arg(long, default_value = "mpirun")]
    mpirun: String,
    /// Print the mpirun command instead of running it.
    #[arg(long)]
    dry_run: bool,
    /// The gradschool command and its flags, e.g. `mnist --batch-size 32`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// The mpirun arguments for `a`, running `exe`: Open MPI refuses root without
/// `--allow-run-as-root` and more ranks than cores without `--oversubscribe`; a rank with more
/// than one thread must not be bound to one core.
/// `forwarded`: the environment variables every rank must see (gradschool's GRADSCHOOL_*).
fn mpirun_args(a: &LaunchArgs, exe: &str, root: bool, cores: usize, forwarded: &[String]) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    if root {
        args.push("--allow-run-as-root".into());
    }
    match &a.host {
        Some(h) => args.extend(["--host".into(), h.clone()]),
        None if a.ranks > cores => args.push("--oversubscribe".into()),
        None => {}
    }
    if a.threads > 1 {
        args.extend(["--bind-to".into(), "none".into()]);
    }
    args.extend(["-np".into(), a.ranks.to_string(), "-x".into(), format!("RAYON_NUM_THREADS={}", a.threads)]);
    // gradschool's own settings reach every rank, on other machines too
    for name in forwarded {
        args.extend(["-x".into(), name.clone()]);
    }
    args.push(exe.into());
    args.extend(a.command.iter().cloned());
    args
}

/// Runs mpirun and returns an error if any rank failed.
pub fn run(a: &LaunchArgs) -> Result<()> {
    if !cfg!(feature = "distributed") {
        return Err(Error::Config(
            "launch: this gradschool was built without the `distributed` feature, so its ranks could not talk; \
             build it with `cargo build --release --features distributed`"
                .into(),
        ));
    }
    if a.command.first().is_some_and(|c| c == "launch") {
        return Err(Error::Config("launch: the command to run cannot be launch itself".into()));
    }
    let exe = std::env::current_exe().map_err(|e| Error::Config(format!("launch: cannot find this program: {e}")))?;
    let root = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut forwarded: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k.starts_with("GRADSCHOOL_"))
        .collect();
    forwarded.sort();
    #[cfg(feature = "nccl")]
    if let Some(path) = nccl_library_path(&a.command)? {
        // SAFETY: launch is single-threaded here, before mpirun starts.
        unsafe { std::env::set_var("LD_LIBRARY_PATH", path) };
        forwarded.push("LD_LIBRARY_PATH".into());
    }
    let args = mpirun_args(a, &exe.to_string_lossy(), root, cores, &forwarded);
    if a.dry_run {
        gradschool::say!("{} {}", a.mpirun, args.join(" "));
        return Ok(());
    }
    let status = Command::new(&a.mpirun).args(&args).status().map_err(|e| {
        Error::Config(format!(
            "launch: cannot run {}: {e} (install Open MPI: apt-get install openmpi-bin, or give --mpirun)",
            a.mpirun
        ))
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Config(format!("launch: {} ranks of `{}` ended with {status}", a.ranks, a.command.join(" "))))
    }
}

/// For a command on a GPU, when NCCL is not loadable under the name cudarc tries but the PyPI
/// wheel's `libnccl.so.2` is there (PyTorch installs it): the LD_LIBRARY_PATH that makes it
/// loadable (a link named libnccl.so in a temporary folder, first); `None` when nothing is
/// needed.
#[cfg(feature = "nccl")]
fn nccl_library_path(command: &[String]) -> Result<Option<String>> {
    use gradschool::distributed::nccl;
    let on_gpu = command.windows(2).any(|w| w[0] == "--device" && w[1].starts_with("cuda"))
        || command.iter().any(|c| c.starts_with("--device=cuda"));
    if !on_gpu || nccl::loadable() {
        return Ok(None);
    }
    let sites: Vec<std::path::PathBuf> = Command::new("python3")
        .args(["-c", "import site; print('\\n'.join(site.getsitepackages()))"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().map(Into::into).collect())
        .unwrap_or_default();
    let Some(lib) = nccl::find_versioned_nccl(&sites) else { return Ok(None) };
    let dir = nccl::link_folder(&lib, &std::env::temp_dir())?;
    gradschool::say!("launch: NCCL is {}; linked as {}/libnccl.so for the ranks", lib.display(), dir.display());
    let old = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    Ok(Some(if old.is_empty() { dir.display().to_string() } else { format!("{}:{old}", dir.display()) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: LaunchArgs,
    }

    fn args(line: &[&str]) -> LaunchArgs {
        T::try_parse_from(std::iter::once("launch").chain(line.iter().copied())).unwrap().a
    }

    #[test]
    fn flags_follow_the_machine() {
        let a = args(&["-n", "2", "mnist", "--batch-size", "32"]);
        let want = "-np 2 -x RAYON_NUM_THREADS=1 /bin/gs mnist --batch-size 32";
        assert_eq!(mpirun_args(&a, "/bin/gs", false, 2, &[]).join(" "), want, "2 ranks on 2 cores, not root");
        let got = mpirun_args(&a, "/bin/gs", true, 1, &[]).join(" ");
        assert_eq!(got, format!("--allow-run-as-root --oversubscribe {want}"), "root, 2 ranks on 1 core");
        let a = args(&["-n", "4", "--threads", "2", "--host", "a:2,b:2", "sentiment", "--lr", "1e-4"]);
        let got = mpirun_args(&a, "/bin/gs", false, 2, &["GRADSCHOOL_X".into()]).join(" ");
        let want =
            "--host a:2,b:2 --bind-to none -np 4 -x RAYON_NUM_THREADS=2 -x GRADSCHOOL_X /bin/gs sentiment --lr 1e-4";
        assert_eq!(got, want, "hosts given: their slots decide, threads unbound");
    }

    #[test]
    fn a_command_is_required() {
        assert!(T::try_parse_from(["launch", "-n", "2"]).is_err());
        assert!(T::try_parse_from(["launch", "-n", "0", "mnist"]).is_err());
    }
}
