//! Client-side rate limits per Action, so that bursts never draw a 4400.
//!
//! Design: a sliding-window log per [`Step`]: the times of the last `limit`
//! calls. A call may go when fewer than `limit` calls went in the last
//! window; otherwise it sleeps until the oldest one leaves the window. This
//! guarantees at most `limit` calls in *any* window, which also satisfies a
//! server counting fixed minutes. The window is 61 s rather than 60 s to
//! absorb the difference between when we send and when the server counts.
//! One [`Pacer`] is shared by all uploads of a mount; time is tokio's.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::vod::Step;

/// Calls allowed per minute for each step; 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaceLimits {
    pub start_per_min: u32,
    pub part_per_min: u32,
    pub finish_per_min: u32,
}

impl Default for PaceLimits {
    /// The documented peaks (protocol.md §2): 100/min for InitUpload and
    /// FinishUpload, 10 000/min for UploadPart.
    fn default() -> Self {
        PaceLimits {
            start_per_min: 100,
            part_per_min: 10_000,
            finish_per_min: 100,
        }
    }
}

impl PaceLimits {
    pub const UNLIMITED: PaceLimits = PaceLimits {
        start_per_min: 0,
        part_per_min: 0,
        finish_per_min: 0,
    };

    /// The limits of `vodfs mount --rate-limit STEP=N` (each spec may hold
    /// several, comma-separated): STEP is `start`, `part`, `finish` or the
    /// Action the chosen flow calls for that step (`action(step)`, e.g.
    /// `InitUpload`); N is calls per minute, 0 for unlimited. Steps not
    /// named keep the documented defaults; `unlimited` starts from
    /// [`PaceLimits::UNLIMITED`] instead (`--no-rate-limit`).
    pub fn from_specs(
        specs: &[String],
        unlimited: bool,
        action: impl Fn(Step) -> &'static str,
    ) -> Result<PaceLimits, String> {
        let mut limits = if unlimited {
            PaceLimits::UNLIMITED
        } else {
            PaceLimits::default()
        };
        for spec in specs.iter().flat_map(|s| s.split(',')) {
            let spec = spec.trim();
            if spec.is_empty() {
                continue;
            }
            let (name, n) = spec
                .split_once('=')
                .ok_or_else(|| format!("--rate-limit {spec:?}: expected STEP=N"))?;
            let n: u32 = n.trim().parse().map_err(|_| {
                format!("--rate-limit {spec:?}: {n:?} is not a number of calls per minute")
            })?;
            let name = name.trim();
            let step = [Step::Start, Step::Part, Step::Finish]
                .into_iter()
                .find(|s| {
                    let short = match s {
                        Step::Start => "start",
                        Step::Part => "part",
                        Step::Finish => "finish",
                    };
                    name.eq_ignore_ascii_case(short) || name == action(*s)
                })
                .ok_or_else(|| {
                    format!(
                        "--rate-limit {spec:?}: unknown step {name:?} (start, part, finish, {}, {}, {})",
                        action(Step::Start),
                        action(Step::Part),
                        action(Step::Finish)
                    )
                })?;
            *limits.limit_mut(step) = n;
        }
        Ok(limits)
    }

    fn limit_mut(&mut self, step: Step) -> &mut u32 {
        match step {
            Step::Start => &mut self.start_per_min,
            Step::Part => &mut self.part_per_min,
            Step::Finish => &mut self.finish_per_min,
        }
    }

    fn limit(&self, step: Step) -> u32 {
        match step {
            Step::Start => self.start_per_min,
            Step::Part => self.part_per_min,
            Step::Finish => self.finish_per_min,
        }
    }
}

/// The window a per-minute limit is counted over (one minute plus margin).
pub const WINDOW: Duration = Duration::from_secs(61);

/// The shared rate limiter.
#[derive(Debug)]
pub struct Pacer {
    limits: PaceLimits,
    /// Send times of recent calls, oldest first, one log per step.
    logs: [Mutex<VecDeque<Instant>>; 3],
}

fn slot(step: Step) -> usize {
    match step {
        Step::Start => 0,
        Step::Part => 1,
        Step::Finish => 2,
    }
}

impl Pacer {
    pub fn new(limits: PaceLimits) -> Self {
        Pacer {
            limits,
            logs: Default::default(),
        }
    }

    pub fn limits(&self) -> PaceLimits {
        self.limits
    }

    /// Waits until a call of `step` may be made, and records it.
    pub async fn acquire(&self, step: Step) {
        let limit = self.limits.limit(step) as usize;
        if limit == 0 {
            return;
        }
        let mut logged = false;
        loop {
            let wake = {
                let mut log = match self.logs[slot(step)].lock() {
                    Ok(g) => g,
                    Err(poisoned) => poisoned.into_inner(),
                };
                let now = Instant::now();
                while log.front().is_some_and(|t| *t + WINDOW <= now) {
                    log.pop_front();
                }
                if log.len() < limit {
                    log.push_back(now);
                    return;
                }
                // The log is full: the oldest call leaves the window first.
                log.front().map(|t| *t + WINDOW).unwrap_or(now)
            };
            if !logged {
                // One line per call that has to wait (tests count them).
                tracing::info!(step = ?step, limit, "pacing: a call waits for the rate-limit window");
                logged = true;
            }
            tokio::time::sleep_until(wake).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_spread_so_no_window_exceeds_the_limit() {
        let pacer = Arc::new(Pacer::new(PaceLimits {
            start_per_min: 10,
            ..PaceLimits::UNLIMITED
        }));
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..25 {
            let p = pacer.clone();
            tasks.push(tokio::spawn(async move {
                p.acquire(Step::Start).await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort();
        // 10 at once, 10 a window later, 5 two windows later.
        assert_eq!(times.iter().filter(|t| **t - t0 < WINDOW).count(), 10);
        assert!(times[24] - t0 >= WINDOW * 2);
        assert!(times[24] - t0 < WINDOW * 3);
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().filter(|u| **u - *t < WINDOW).count();
            assert!(in_window <= 10, "{in_window} calls within a window");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn steps_are_limited_separately_and_zero_is_unlimited() {
        let pacer = Pacer::new(PaceLimits {
            start_per_min: 1,
            part_per_min: 0,
            finish_per_min: 1,
        });
        let t0 = Instant::now();
        pacer.acquire(Step::Start).await;
        pacer.acquire(Step::Finish).await;
        for _ in 0..1000 {
            pacer.acquire(Step::Part).await;
        }
        assert_eq!(Instant::now(), t0);
        pacer.acquire(Step::Start).await;
        assert_eq!(Instant::now() - t0, WINDOW);
    }

    #[test]
    fn specs_name_steps_or_the_flows_actions() {
        let action = |s: Step| match s {
            Step::Start => "InitUpload",
            Step::Part => "UploadPart",
            Step::Finish => "FinishUpload",
        };
        let specs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let l = PaceLimits::from_specs(&specs(&["start=300,finish=300"]), false, action).unwrap();
        assert_eq!(
            (l.start_per_min, l.part_per_min, l.finish_per_min),
            (300, 10_000, 300)
        );
        let l =
            PaceLimits::from_specs(&specs(&["InitUpload=200", "part=0"]), false, action).unwrap();
        assert_eq!(
            (l.start_per_min, l.part_per_min, l.finish_per_min),
            (200, 0, 100)
        );
        let l = PaceLimits::from_specs(&specs(&["finish=5"]), true, action).unwrap();
        assert_eq!(
            l,
            PaceLimits {
                finish_per_min: 5,
                ..PaceLimits::UNLIMITED
            }
        );
        let e = PaceLimits::from_specs(&specs(&["ApplyUpload=1"]), false, action).unwrap_err();
        assert!(e.contains("ApplyUpload") && e.contains("InitUpload"), "{e}");
        assert!(PaceLimits::from_specs(&specs(&["start"]), false, action).is_err());
        assert!(PaceLimits::from_specs(&specs(&["start=x"]), false, action).is_err());
    }

    #[test]
    fn defaults_are_the_documented_limits() {
        let d = PaceLimits::default();
        assert_eq!(
            (d.start_per_min, d.part_per_min, d.finish_per_min),
            (100, 10_000, 100)
        );
    }
}
