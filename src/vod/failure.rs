//! A failure-injecting wrapper around any [`UploadFlow`], for tests (the
//! model is mountpoint-s3's `failure_client.rs`).
//!
//! Failures are planned per step and call number: the nth call of a step
//! fails with a given error, either *before* the inner flow is called (the
//! request never reached the service) or *after* it (the service acted but
//! the answer was lost, which checks that retries are idempotent).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

use futures::future::BoxFuture;

use super::error::VodError;
use super::flow::{
    AbortReason, Media, ObjectBody, Part, Session, StartRequest, Started, Step, Transfer,
    UploadFlow,
};

/// When an injected failure happens relative to the real call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Before,
    After,
}

#[derive(Default)]
struct Plan {
    calls: HashMap<Step, u64>,
    /// (step, 1-based call number) → failure.
    failures: HashMap<(Step, u64), (When, VodError)>,
}

/// Wraps a flow and fails planned calls.
pub struct FailureFlow {
    inner: Arc<dyn UploadFlow>,
    plan: Mutex<Plan>,
}

impl FailureFlow {
    pub fn new(inner: Arc<dyn UploadFlow>) -> Self {
        FailureFlow {
            inner,
            plan: Mutex::new(Plan::default()),
        }
    }

    /// Call number `nth` (1-based) of `step` fails with `error`.
    pub fn fail(&self, step: Step, nth: u64, when: When, error: VodError) {
        self.lock().failures.insert((step, nth), (when, error));
    }

    /// Calls of `step` made so far (failed ones included).
    pub fn calls(&self, step: Step) -> u64 {
        self.lock().calls.get(&step).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a call of `step` and takes its planned failure, if any.
    fn next(&self, step: Step) -> Option<(When, VodError)> {
        let mut plan = self.lock();
        let n = plan.calls.entry(step).or_insert(0);
        *n += 1;
        let key = (step, *n);
        plan.failures.remove(&key)
    }

    async fn wrap<T>(
        &self,
        step: Step,
        call: BoxFuture<'_, Result<T, VodError>>,
    ) -> Result<T, VodError> {
        match self.next(step) {
            Some((When::Before, e)) => Err(e),
            Some((When::After, e)) => {
                let _ = call.await;
                Err(e)
            }
            None => call.await,
        }
    }
}

impl UploadFlow for FailureFlow {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn action(&self, step: Step) -> &'static str {
        self.inner.action(step)
    }

    fn start<'a>(&'a self, req: &'a StartRequest) -> BoxFuture<'a, Result<Started, VodError>> {
        Box::pin(self.wrap(Step::Start, self.inner.start(req)))
    }

    fn send_part<'a>(
        &'a self,
        session: &'a Session,
        part: Part,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        Box::pin(self.wrap(Step::Part, self.inner.send_part(session, part)))
    }

    fn finish<'a>(&'a self, session: &'a Session) -> BoxFuture<'a, Result<Media, VodError>> {
        Box::pin(self.wrap(Step::Finish, self.inner.finish(session)))
    }

    fn transfer(&self) -> Transfer {
        self.inner.transfer()
    }

    fn send_object<'a>(
        &'a self,
        session: &'a mut Session,
        body: ObjectBody,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        Box::pin(self.wrap(Step::Part, self.inner.send_object(session, body)))
    }

    fn abort<'a>(
        &'a self,
        session: &'a Session,
        reason: AbortReason,
    ) -> BoxFuture<'a, Result<(), VodError>> {
        self.inner.abort(session, reason)
    }
}
