//! The one place flags are parsed and checked: typed values (`Device`, `OptimizerKind`,
//! [`SchedulerKind`]) and range checks run inside clap, so a bad flag is clap's one-line error
//! naming the flag before any tensor code runs.

use gradschool::optim::Schedule;
use gradschool::Device;

/// `--device`: `cpu`, `cuda` or `cuda:N`, checked against this build and machine.
pub fn device(s: &str) -> Result<Device, String> {
    let d = Device::parse(s).map_err(|e| e.to_string())?;
    d.ensure_available().map_err(|e| e.to_string())?;
    Ok(d)
}

/// `--profile FILE [--profile-steps N]`: the profiler's flags, on every training command and
/// `generate`.
#[derive(clap::Args, Debug, Clone)]
pub struct ProfileArgs {
    /// Record every kernel (forward, backward, optimizer: shapes, FLOPs, bytes, time) and the
    /// buffer pool's bytes into FILE as a Chrome trace (open it in ui.perfetto.dev), and print a
    /// table of where the time went.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<std::path::PathBuf>,
    /// Training steps to record, after one warm-up step.
    #[arg(long, default_value_t = 5, value_parser = at_least_one)]
    pub profile_steps: usize,
}

/// `--profile FILE`: its folder must exist (checked before any work, so a run does not end
/// without its trace).
pub fn trace_output(path: &std::path::Path) -> gradschool::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    match parent.filter(|d| !d.is_dir()) {
        Some(dir) => Err(gradschool::Error::Config(format!(
            "--profile {}: folder {} does not exist",
            path.display(),
            dir.display()
        ))),
        None => Ok(()),
    }
}

/// `--precision`: f32, bf16 or fp16.
pub fn precision(s: &str) -> Result<gradschool::amp::Precision, String> {
    s.parse()
}

/// A learning rate (or any rate): a finite number > 0.
pub fn positive_f64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a positive number, got `{s}`")),
    }
}

/// A positive f32 (LoRA α, clipping norm).
pub fn positive_f32(s: &str) -> Result<f32, String> {
    positive_f64(s).map(|v| v as f32)
}

/// A fraction in [0, 1) (momentum, dropout).
pub fn unit_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!("expected a number in [0, 1), got `{s}`")),
    }
}

/// A count ≥ 1 (epochs, batch size, steps, intervals).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!("expected a whole number ≥ 1, got `{s}`")),
    }
}

/// `--scheduler`: how the learning rate changes per epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SchedulerKind {
    /// The base rate throughout.
    #[value(alias = "constant")]
    None,
    /// × gamma every epoch (the notes' StepLR with step_size 1).
    Step,
    /// × gamma every epoch, ExponentialLR.
    Exponential,
    /// Cosine annealing to 0 over the run.
    Cosine,
}

impl SchedulerKind {
    /// The schedule over `epochs` with decay factor `gamma`.
    pub fn schedule(self, gamma: f64, epochs: usize) -> Schedule {
        match self {
            SchedulerKind::None => Schedule::Constant,
            SchedulerKind::Step => Schedule::Step { step_size: 1, gamma },
            SchedulerKind::Exponential => Schedule::Exponential { gamma },
            SchedulerKind::Cosine => Schedule::Cosine { t_max: epochs, eta_min: 0.0 },
        }
    }
}

/// `-o PATH` of a picture: its extension one of `exts` (the format drawn is the one named, never a
/// PNG under another name), and its folder existing, so a picture is not computed only to fail
/// at the write.
pub fn image_output(path: &std::path::Path, exts: &[&str]) -> gradschool::Result<()> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_lowercase());
    if !ext.as_deref().is_some_and(|e| exts.contains(&e)) {
        return Err(gradschool::Error::Config(format!(
            "-o {}: the picture is drawn as {}",
            path.display(),
            exts.iter().map(|e| format!(".{e}")).collect::<Vec<_>>().join(" or ")
        )));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent.filter(|d| !d.is_dir()) {
        return Err(gradschool::Error::Config(format!(
            "-o {}: folder {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_accept_good_values_and_name_bad_ones() {
        assert_eq!(positive_f64("2e-5"), Ok(2e-5));
        for bad in ["0", "-1", "NaN", "inf", "x"] {
            assert!(positive_f64(bad).unwrap_err().contains(bad), "{bad}");
        }
        assert_eq!(unit_interval("0.9"), Ok(0.9));
        assert!(unit_interval("1").is_err());
        assert_eq!(at_least_one("3"), Ok(3));
        assert!(at_least_one("0").unwrap_err().contains("≥ 1"));
        assert_eq!(device("cpu"), Ok(Device::Cpu));
        assert!(device("gpu").unwrap_err().contains("--device"));
        let p = std::path::Path::new;
        assert!(image_output(p("g.svg"), &["png", "svg"]).is_ok() && image_output(p("G.PNG"), &["png"]).is_ok());
        assert!(image_output(p("g.pdf"), &["png", "svg"]).unwrap_err().to_string().contains(".png or .svg"));
        assert!(image_output(p("nodir/g.png"), &["png"]).unwrap_err().to_string().contains("folder nodir"));
    }
}
