//! Continuations: what happens once a verdict or a person's decision is in.
//!
//! The coach, exec and approvals each own their runtime type and know
//! nothing of each other. A coach check carries an [`After`] saying who
//! asked (a plain check, an `exec.run`, an `exec.approval.request`); an
//! approval that holds an `exec.run` keeps it as a [`Held`]. This module
//! is the one place that knows all three and routes between them.

use super::approvals::ApprovalReq;
use super::exec::ExecReq;
use super::methods::Payload;
use super::Gateway;
use crate::coach::Verdict;
use crate::net::ConnId;
use crate::protocol::ErrorShape;
use serde_json::Value;
use std::time::Instant;

/// What happens with a verdict once it is in.
pub(super) enum After {
    /// `security.coach.check`: answer it (and raise an alert on approve).
    Respond,
    /// `exec.run`: block, ask a human, or spawn.
    Exec(Box<ExecReq>),
    /// `exec.approval.request`: deny outright on block, else ask a human.
    Approval(Box<ApprovalReq>),
    /// `agent.check` and hooks: answer, or hold an approve for a person.
    Agent(Box<super::hooks::AgentReq>),
}

/// An `exec.run` held by an approval: who asked, and the request to start
/// when a person allows it.
pub(super) struct Held {
    pub conn: ConnId,
    pub req_id: String,
    req: Box<ExecReq>,
}

impl Held {
    pub(super) fn new(conn: ConnId, req_id: &str, req: ExecReq) -> Held {
        Held {
            conn,
            req_id: req_id.to_string(),
            req: Box::new(req),
        }
    }

    /// What an approver is shown of the held request.
    pub(super) fn request_view(&self) -> Value {
        self.req.request_view()
    }

    /// The command line as shown to people.
    pub(super) fn display(&self) -> &str {
        &self.req.display
    }

    pub(super) fn session_key(&self) -> Option<&str> {
        self.req.session_key.as_deref()
    }
}

impl Gateway {
    /// Routes a verdict to whoever asked for it.
    pub(super) fn resume(
        &mut self,
        conn: ConnId,
        req_id: &str,
        verdict: &Verdict,
        then: After,
        now: Instant,
    ) -> Result<Payload, ErrorShape> {
        match then {
            After::Respond => unreachable!("answered by the coach itself"),
            After::Exec(r) => self.exec_after_coach(conn, req_id, *r, verdict, now),
            After::Approval(a) => self.approval_after_coach(conn, req_id, *a, verdict, now),
            After::Agent(a) => self.agent_after_coach(conn, req_id, *a, verdict, now),
        }
    }

    /// A person allowed a held `exec.run`: start it, named as approved by
    /// `by`.
    pub(super) fn resume_held(&mut self, held: Held, by: &str, now: Instant) {
        let mut r = *held.req;
        r.approved_by = by.to_string();
        let res = self.start_process(held.conn, &held.req_id, r, now);
        self.answer(held.conn, &held.req_id, res, now);
    }
}
