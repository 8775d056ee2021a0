//! The upload flows a mount can use (`--protocol`), and
//! [`for_each_flow!`], which runs one test body once per flow, each flow
//! its own `#[test]` (`…::v4::name`, `…::ugc::name`, `…::ugc_ex::name`, …),
//! so nextest runs, reports and retries them one by one. `ugc` is family D
//! (ApplyUploadUGC), `ugc-ex` (module `ugc_ex`) family B (InitUploadEx).

use super::mount::Mount;
use super::service::Service;

/// One upload flow: the `--protocol` value and the family letter the
/// service records for media it created (`flow` in the media record).
#[derive(Clone, Copy, Debug)]
pub struct Flow {
    pub protocol: &'static str,
    pub family: &'static str,
}

impl Flow {
    /// Every flow, in the order the tests run them.
    pub const ALL: [Flow; 6] = [
        Flow::new("v4", "A"),
        Flow::new("ugc", "D"),
        Flow::new("ugc-ex", "B"),
        Flow::new("apply", "C"),
        Flow::new("frontwize", "F"),
        Flow::new("api3", "api3"),
    ];

    const fn new(protocol: &'static str, family: &'static str) -> Flow {
        Flow { protocol, family }
    }

    /// The flow of `--protocol PROTOCOL` (or of its module name: `ugc_ex`).
    pub fn named(protocol: &str) -> Flow {
        let protocol = protocol.replace('_', "-");
        *Flow::ALL
            .iter()
            .find(|f| f.protocol == protocol)
            .unwrap_or_else(|| panic!("no flow {protocol:?}"))
    }

    /// The `vodfs mount` arguments selecting this flow against `svc`.
    pub fn mount_args(&self, svc: &Service) -> Vec<String> {
        let mut args = vec!["--protocol".to_string(), self.protocol.to_string()];
        if self.protocol == "apply" {
            args.push("--cos-endpoint".into());
            args.push(svc.url.clone());
        }
        args
    }

    /// Mounts against `svc` with this flow and `extra` arguments.
    pub fn mount(&self, svc: &Service, extra: &[&str]) -> Mount {
        let mut args = self.mount_args(svc);
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Mount::with_args(svc, &args)
    }
}

/// `for_each_flow!(body_a, body_b)` emits `mod v4 { #[test] fn body_a() }`
/// and so on for every flow, each calling `super::body_a(Flow)`;
/// `for_each_flow!([v4, ugc] body_a)` does it for the flows listed only
/// (the others lack what the body tests). `for_each_flow!(async …)` does
/// the same for `async fn body(Flow)` as `#[tokio::test]`s. One invocation
/// per module. The default list is [`Flow::ALL`]'s, spelled as module names
/// (`Flow::named` panics on a name that is not a flow).
macro_rules! for_each_flow {
    (async $($body:ident),+ $(,)?) => {
        $crate::common::for_each_flow!(@emit_async [v4, ugc, ugc_ex, apply, frontwize, api3] $($body),+);
    };
    ([$($flow:ident),+ $(,)?] $($body:ident),+ $(,)?) => {
        $crate::common::for_each_flow!(@emit [$($flow),+] $($body),+);
    };
    ($($body:ident),+ $(,)?) => {
        $crate::common::for_each_flow!(@emit [v4, ugc, ugc_ex, apply, frontwize, api3] $($body),+);
    };
    (@emit_async [$flow:ident $(, $rest:ident)*] $($body:ident),+) => {
        mod $flow {
            $(
                #[tokio::test]
                async fn $body() {
                    super::$body($crate::common::Flow::named(stringify!($flow))).await;
                }
            )+
        }
        $crate::common::for_each_flow!(@emit_async [$($rest),*] $($body),+);
    };
    (@emit_async [] $($body:ident),+) => {};
    (@emit [$flow:ident $(, $rest:ident)*] $($body:ident),+) => {
        mod $flow {
            $(
                #[test]
                fn $body() {
                    super::$body($crate::common::Flow::named(stringify!($flow)));
                }
            )+
        }
        $crate::common::for_each_flow!(@emit [$($rest),*] $($body),+);
    };
    (@emit [] $($body:ident),+) => {};
}
pub(crate) use for_each_flow;
