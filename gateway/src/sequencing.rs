//! Request sequencing: a device Service Request whose header names a
//! `PrecedingServiceRequestID` is sent to its device only once that preceding request of the
//! same User has succeeded.
//!
//! The DUIS schema defines the two header elements (`FirstInSequence`,
//! `PrecedingServiceRequestID`); the sources available to this project say nothing more about
//! their meaning, so the rules below are HubGate's own:
//!
//! | the predecessor (same User) is … | the dependant is … |
//! |---|---|
//! | in flight, or itself held | acknowledged `I99`, held, and sent when the predecessor's Service Response is `I0` |
//! | remembered as succeeded (`I0`) | acknowledged `I99` and sent at once |
//! | remembered as failed (any other final outcome: `E20`, `E21`, refused when released) | acknowledged `I99`, not sent; its Service Response is `E45` |
//! | failing while the dependant is held | not sent; its Service Response is `E45`, after the predecessor's |
//! | unknown: never routed, another User's, or forgotten | refused at once with `E46` |
//!
//! - `E45` ("the preceding request did not succeed") and `E46` ("sequencing refused") are
//!   codes of the schema's enumeration that the available sources give no meaning for; HubGate
//!   uses them as above.
//! - `FirstInSequence` true together with a `PrecedingServiceRequestID` contradicts itself
//!   and is refused with `E46`. `FirstInSequence` on its own changes nothing: every routed
//!   request can be named as a predecessor, marked or not.
//! - Chains (A ← B ← C) work: a held request can itself be a predecessor, and a failure
//!   cascades down the chain (each dependant answered `E45`, in the order they were held).
//! - A released dependant whose command the hub actors do not take gets the code of that
//!   refusal (`E44` saturated, `E100` invalid) as its Service Response; its own dependants get
//!   `E45`.
//! - Bounds, per User: at most [`SequencingLimits::held_per_user`] requests held (a further
//!   dependant is refused with `E44`), and the outcomes of the last
//!   [`SequencingLimits::remembered_per_user`] finished requests remembered; an older
//!   predecessor is unknown (`E46`). Held requests wait no longer than their predecessor's own
//!   command: that ends by its deadline (`E21`) at the latest.
//! - Only device requests the gateway sends to a device (CommandVariant 1, 3, 5, 6, 7) are
//!   sequenced and can be predecessors. A Transform (CV 4) answered with its Pre-Command, a
//!   local-delivery-only or non-device request is answered at once and is not remembered; a
//!   request naming one as its predecessor is refused with `E46`.
//! - The command of a held request is built (and MAC'd) when it is accepted and sent
//!   unchanged on release, with a fresh response deadline. A device checks GBCS counters:
//!   a later request of the same User to the same device sent in the meantime (without a
//!   predecessor) can make the device refuse the held one when it finally arrives.
//!
//! Held requests and remembered outcomes are kept in memory; the requests themselves are in
//! the write-ahead journal ([`crate::journal`]). After a restart the journal is replayed in
//! acceptance order, so a held request whose predecessor was also still unanswered is held
//! again behind it. A journaled request whose predecessor had already been answered before
//! the restart finds it unknown: it is answered `E46` (the outcome it waited for is not
//! remembered across restarts).
//!
//! Tests: the unit tests below drive [`Sequencer`] directly (chains, cascades, bounds,
//! forgetting, refusal on release); `gateway/tests/sequencing.rs` runs `hubgate serve` with
//! emulated meters and signed DUIS requests over HTTPS: a dependant on another hub answered
//! only after its slow predecessor, a chain of three, a failed predecessor failing two
//! dependants with `E45`, and the `E46` refusals.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use hubgate_actors::{Command, HubRegistry, SubmitError};
use hubgate_protocol::duis::model::header::{RequestHeader, RequestId};
use hubgate_protocol::duis::model::response::ResponseCode;
use hubgate_protocol::hex;

use crate::ingress::codes::Rejection;
use crate::metric_name;

/// The code a dependant gets when its predecessor did not succeed.
pub fn predecessor_failed() -> ResponseCode {
    // In the schema's enumeration (a unit test checks it).
    ResponseCode::parse("E45").unwrap_or(ResponseCode::I99)
}

/// Per-User bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequencingLimits {
    /// Most requests of one User held for their predecessors at once. Default 256.
    pub held_per_user: usize,
    /// Finished requests of one User whose outcome is remembered. Default 4096.
    pub remembered_per_user: usize,
}

impl Default for SequencingLimits {
    fn default() -> Self {
        SequencingLimits {
            held_per_user: 256,
            remembered_per_user: 4096,
        }
    }
}

/// A request that will not be sent: its request reference and the code of its Service
/// Response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The request reference (its RequestID as text).
    pub request_ref: String,
    /// The Service Response's code.
    pub code: ResponseCode,
}

/// What became of a routed request at admission.
#[derive(Debug)]
pub enum Admission {
    /// Send its command now.
    Send(Command),
    /// Held until its predecessor finishes.
    Held,
    /// Not sent: its predecessor already failed. Its Service Response is to be delivered.
    Failed(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    InFlight,
    Held,
    Succeeded,
    Failed,
}

/// One User's requests.
#[derive(Debug, Default)]
struct Book {
    states: HashMap<RequestId, State>,
    /// Finished requests, oldest first, for forgetting.
    finished: VecDeque<RequestId>,
    /// Held requests by the predecessor they wait for, in the order they were held.
    waiting: HashMap<RequestId, Vec<(RequestId, Command)>>,
    held: usize,
}

impl Book {
    fn finish(&mut self, id: RequestId, succeeded: bool, remember: usize) {
        let state = if succeeded {
            State::Succeeded
        } else {
            State::Failed
        };
        self.states.insert(id, state);
        self.finished.push_back(id);
        while self.finished.len() > remember {
            if let Some(old) = self.finished.pop_front() {
                self.states.remove(&old);
            }
        }
    }
}

/// Requests in flight, held and recently finished, per User.
pub struct Sequencer {
    users: DashMap<[u8; 8], Book>,
    limits: SequencingLimits,
    /// Where released commands go, and how long a device has to answer.
    target: OnceLock<(Arc<HubRegistry>, Duration)>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer")
            .field("users", &self.users.len())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Sequencer {
    /// An empty sequencer.
    pub fn new(limits: SequencingLimits) -> Sequencer {
        Sequencer {
            users: DashMap::new(),
            limits,
            target: OnceLock::new(),
        }
    }

    /// Sends released commands to `registry`, each with `timeout` to be answered. Set once
    /// (later calls change nothing).
    pub fn serve(&self, registry: Arc<HubRegistry>, timeout: Duration) {
        let _ = self.target.set((registry, timeout));
    }

    /// Requests held now, all Users together.
    pub fn held(&self) -> usize {
        self.users.iter().map(|b| b.held).sum()
    }

    /// Admits the accepted request with `header`, whose command is `command`.
    ///
    /// # Errors
    ///
    /// [`Rejection::Sequence`] (`E46`) for an unknown predecessor or a contradictory header,
    /// [`Rejection::Busy`] (`E44`) when the User already has as many requests held as
    /// allowed. The request is then not recorded.
    pub fn admit(&self, header: &RequestHeader, command: Command) -> Result<Admission, Rejection> {
        self.admit_parts(
            header.request_id,
            header.preceding_request_id,
            header.first_in_sequence,
            command,
        )
    }

    /// [`Sequencer::admit`] from the header's three sequencing fields.
    ///
    /// # Errors
    ///
    /// As [`Sequencer::admit`].
    pub fn admit_parts(
        &self,
        id: RequestId,
        preceding: Option<RequestId>,
        first_in_sequence: Option<bool>,
        command: Command,
    ) -> Result<Admission, Rejection> {
        let user = id.originator;
        let mut book = self.users.entry(user).or_default();
        let Some(before) = preceding else {
            book.states.insert(id, State::InFlight);
            return Ok(Admission::Send(command));
        };
        if first_in_sequence == Some(true) {
            return Err(Rejection::Sequence(format!(
                "FirstInSequence is true but PrecedingServiceRequestID names {before}"
            )));
        }
        if before.originator != user {
            return Err(Rejection::Sequence(format!(
                "PrecedingServiceRequestID {before} is not a request of User {}",
                hex::eui_duis(&user)
            )));
        }
        match book.states.get(&before).copied() {
            None => Err(Rejection::Sequence(format!(
                "PrecedingServiceRequestID {before} names no request sent to a device that is \
                 in flight or finished recently"
            ))),
            Some(State::Succeeded) => {
                book.states.insert(id, State::InFlight);
                Ok(Admission::Send(command))
            }
            Some(State::Failed) => {
                book.finish(id, false, self.limits.remembered_per_user);
                Ok(Admission::Failed(Failure {
                    request_ref: command.request_ref,
                    code: predecessor_failed(),
                }))
            }
            Some(State::InFlight | State::Held) => {
                if book.held >= self.limits.held_per_user {
                    return Err(Rejection::Busy(format!(
                        "{} requests of User {} already wait for their predecessors",
                        book.held,
                        hex::eui_duis(&user)
                    )));
                }
                book.held += 1;
                book.states.insert(id, State::Held);
                book.waiting.entry(before).or_default().push((id, command));
                Ok(Admission::Held)
            }
        }
    }

    /// The request with reference `request_ref` finished: `succeeded` when its Service
    /// Response is `I0`. Its held dependants are sent (or, if it failed, fail in turn), down
    /// their chains; the returned failures are the Service Responses still to deliver.
    pub fn finished_ref(&self, request_ref: &str, succeeded: bool) -> Vec<Failure> {
        match RequestId::parse(request_ref) {
            Ok(id) => self.finished(&id, succeeded),
            Err(_) => Vec::new(),
        }
    }

    /// [`Sequencer::finished_ref`] by RequestID, sending released commands to the hub
    /// actors given to [`Sequencer::serve`].
    pub fn finished(&self, id: &RequestId, succeeded: bool) -> Vec<Failure> {
        let target = self.target.get();
        self.finished_with(id, succeeded, &mut |mut command: Command| {
            let Some((registry, timeout)) = target else {
                return Err(Rejection::Busy("no hub actors to send to".into()).code());
            };
            command.deadline = Instant::now() + *timeout;
            match registry.submit(command) {
                Ok(()) => {
                    metrics::counter!(metric_name::ROUTING_COMMANDS_TOTAL).increment(1);
                    Ok(())
                }
                Err(e) => Err(submit_refusal(e).code()),
            }
        })
    }

    /// [`Sequencer::finished`] with `submit` sending released commands (`Err`: the code of
    /// the refusal).
    pub fn finished_with(
        &self,
        id: &RequestId,
        succeeded: bool,
        submit: &mut dyn FnMut(Command) -> Result<(), ResponseCode>,
    ) -> Vec<Failure> {
        let mut failures = Vec::new();
        let mut work = VecDeque::from([(*id, succeeded)]);
        while let Some((id, succeeded)) = work.pop_front() {
            let released = {
                let Some(mut book) = self.users.get_mut(&id.originator) else {
                    continue;
                };
                if !matches!(book.states.get(&id), Some(State::InFlight | State::Held)) {
                    // Unknown here, or already finished: nothing waits for it.
                    continue;
                }
                if book.states.get(&id) == Some(&State::Held) {
                    book.held = book.held.saturating_sub(1);
                }
                book.finish(id, succeeded, self.limits.remembered_per_user);
                let deps = book.waiting.remove(&id).unwrap_or_default();
                if succeeded {
                    book.held = book.held.saturating_sub(deps.len());
                    for (dep, _) in &deps {
                        book.states.insert(*dep, State::InFlight);
                    }
                }
                deps
            };
            for (dep, command) in released {
                if succeeded {
                    let request_ref = command.request_ref.clone();
                    if let Err(code) = submit(command) {
                        tracing::info!(request = %request_ref, %code, "a released request could not be sent");
                        failures.push(Failure { request_ref, code });
                        work.push_back((dep, false));
                    }
                } else {
                    tracing::info!(request = %command.request_ref, predecessor = %id, "the preceding request did not succeed");
                    failures.push(Failure {
                        request_ref: command.request_ref,
                        code: predecessor_failed(),
                    });
                    // Still `Held`: finishing it fails its own dependants.
                    work.push_back((dep, false));
                }
            }
        }
        failures
    }
}

/// The refusal for a command the hub actors did not take.
pub fn submit_refusal(e: SubmitError) -> Rejection {
    match e {
        SubmitError::Invalid(i) => Rejection::NotProvided(i.to_string()),
        other => Rejection::Busy(other.to_string()),
    }
}

/// The [`Sequencer`] as the router uses it, with a way to hand Service Responses of requests
/// that will not be sent to the response writer.
#[derive(Clone)]
pub struct Sequencing {
    sequencer: Arc<Sequencer>,
    notify: Arc<dyn Fn(Vec<Failure>) + Send + Sync>,
}

impl std::fmt::Debug for Sequencing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencing")
            .field("sequencer", &self.sequencer)
            .finish_non_exhaustive()
    }
}

impl Sequencing {
    /// `sequencer`, with `notify` taking the failures to answer.
    pub fn new(
        sequencer: Arc<Sequencer>,
        notify: impl Fn(Vec<Failure>) + Send + Sync + 'static,
    ) -> Sequencing {
        Sequencing {
            sequencer,
            notify: Arc::new(notify),
        }
    }

    /// The sequencer.
    pub fn sequencer(&self) -> &Arc<Sequencer> {
        &self.sequencer
    }

    /// Admits a request about to be sent: `Some` is the command to send now, `None` a
    /// request held or already answered through the response writer.
    ///
    /// # Errors
    ///
    /// As [`Sequencer::admit`].
    pub fn admit(
        &self,
        header: &RequestHeader,
        command: Command,
    ) -> Result<Option<Command>, Rejection> {
        self.admit_parts(
            header.request_id,
            header.preceding_request_id,
            header.first_in_sequence,
            command,
        )
    }

    /// [`Sequencing::admit`] from the header's three sequencing fields.
    ///
    /// # Errors
    ///
    /// As [`Sequencer::admit`].
    pub fn admit_parts(
        &self,
        id: RequestId,
        preceding: Option<RequestId>,
        first_in_sequence: Option<bool>,
        command: Command,
    ) -> Result<Option<Command>, Rejection> {
        match self
            .sequencer
            .admit_parts(id, preceding, first_in_sequence, command)?
        {
            Admission::Send(c) => Ok(Some(c)),
            Admission::Held => Ok(None),
            Admission::Failed(f) => {
                (self.notify)(vec![f]);
                Ok(None)
            }
        }
    }

    /// Answers requests in flight with the failures' codes through the response writer
    /// (requests recovered after a restart that cannot be sent).
    pub fn answer(&self, failures: Vec<Failure>) {
        if !failures.is_empty() {
            (self.notify)(failures);
        }
    }

    /// An admitted request was not sent after all (refused synchronously): whatever waits
    /// for it fails.
    pub fn not_sent(&self, id: &RequestId) {
        let failures = self.sequencer.finished(id, false);
        if !failures.is_empty() {
            (self.notify)(failures);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubgate_protocol::duis::model::header::CommandVariant;

    const USER: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0, 0];
    const OTHER: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x02, 0, 0];
    const DEVICE: [u8; 8] = [0, 0xDB, 0x55, 0, 0, 0, 0, 1];

    fn id(counter: u64) -> RequestId {
        RequestId::new(USER, DEVICE, counter)
    }

    fn header(counter: u64, before: Option<RequestId>) -> RequestHeader {
        let mut h = RequestHeader::new(id(counter), CommandVariant::Command, "4.1.1").unwrap();
        h.preceding_request_id = before;
        h
    }

    fn command(counter: u64) -> Command {
        Command {
            request_ref: id(counter).to_string(),
            hub: DEVICE,
            device: DEVICE,
            message_code: 0x0001,
            counter,
            bytes: Vec::new(),
            deadline: Instant::now(),
        }
    }

    fn admit(s: &Sequencer, counter: u64, before: Option<u64>) -> Result<Admission, Rejection> {
        s.admit(&header(counter, before.map(id)), command(counter))
    }

    fn sent_counters(s: &Sequencer, finished: u64, ok: bool) -> (Vec<u64>, Vec<Failure>) {
        let mut sent = Vec::new();
        let failures = s.finished_with(&id(finished), ok, &mut |c: Command| {
            sent.push(c.counter);
            Ok(())
        });
        (sent, failures)
    }

    #[test]
    fn the_codes_are_in_the_schema() {
        assert_eq!(predecessor_failed().as_str(), "E45");
        assert_eq!(Rejection::Sequence(String::new()).code().as_str(), "E46");
    }

    #[test]
    fn a_chain_is_released_in_order() {
        let s = Sequencer::new(SequencingLimits::default());
        assert!(matches!(admit(&s, 1, None), Ok(Admission::Send(_))));
        assert!(matches!(admit(&s, 2, Some(1)), Ok(Admission::Held)));
        assert!(matches!(admit(&s, 3, Some(2)), Ok(Admission::Held)));
        assert_eq!(s.held(), 2);
        let (sent, failures) = sent_counters(&s, 1, true);
        assert_eq!(sent, vec![2]);
        assert!(failures.is_empty());
        assert_eq!(s.held(), 1);
        let (sent, _) = sent_counters(&s, 2, true);
        assert_eq!(sent, vec![3]);
        assert_eq!(s.held(), 0);
        // A predecessor remembered as succeeded is satisfied.
        assert!(matches!(admit(&s, 4, Some(3)), Ok(Admission::Held)));
        let (sent, _) = sent_counters(&s, 3, true);
        assert_eq!(sent, vec![4]);
        assert!(matches!(admit(&s, 5, Some(1)), Ok(Admission::Send(_))));
    }

    #[test]
    fn a_failure_cascades_down_the_chain() {
        let s = Sequencer::new(SequencingLimits::default());
        admit(&s, 1, None).unwrap();
        admit(&s, 2, Some(1)).unwrap();
        admit(&s, 3, Some(2)).unwrap();
        admit(&s, 4, Some(1)).unwrap();
        let (sent, failures) = sent_counters(&s, 1, false);
        assert!(sent.is_empty());
        let refs: Vec<_> = failures.iter().map(|f| f.request_ref.clone()).collect();
        assert_eq!(
            refs,
            vec![id(2).to_string(), id(4).to_string(), id(3).to_string()]
        );
        assert!(failures.iter().all(|f| f.code.as_str() == "E45"));
        assert_eq!(s.held(), 0);
        // Later dependants of a failed request fail at once.
        match admit(&s, 5, Some(3)) {
            Ok(Admission::Failed(f)) => assert_eq!(f.code.as_str(), "E45"),
            other => panic!("{other:?}"),
        }
        // Finishing twice changes nothing.
        assert!(sent_counters(&s, 1, true).1.is_empty());
    }

    #[test]
    fn unknown_predecessors_and_contradictions_are_refused() {
        let s = Sequencer::new(SequencingLimits::default());
        let code = |r: Result<Admission, Rejection>| r.map(|_| ()).unwrap_err().code();
        assert_eq!(code(admit(&s, 2, Some(1))).as_str(), "E46");
        admit(&s, 3, None).unwrap();
        let mut h = header(4, Some(id(3)));
        h.first_in_sequence = Some(true);
        assert_eq!(code(s.admit(&h, command(4))).as_str(), "E46");
        let mut h = header(5, None);
        h.preceding_request_id = Some(RequestId::new(OTHER, DEVICE, 3));
        assert_eq!(code(s.admit(&h, command(5))).as_str(), "E46");
        // None of the refused ones can be named later.
        assert_eq!(code(admit(&s, 6, Some(4))).as_str(), "E46");
    }

    #[test]
    fn held_requests_and_remembered_outcomes_are_bounded() {
        let s = Sequencer::new(SequencingLimits {
            held_per_user: 2,
            remembered_per_user: 3,
        });
        admit(&s, 1, None).unwrap();
        admit(&s, 2, Some(1)).unwrap();
        admit(&s, 3, Some(1)).unwrap();
        let full = admit(&s, 4, Some(1)).map(|_| ()).unwrap_err();
        assert_eq!(full.code().as_str(), "E44");
        let (sent, _) = sent_counters(&s, 1, true);
        assert_eq!(sent, vec![2, 3]);
        for c in 10..14 {
            admit(&s, c, None).unwrap();
            sent_counters(&s, c, true);
        }
        // Only the last three finished are remembered.
        let forgotten = admit(&s, 20, Some(10)).map(|_| ()).unwrap_err();
        assert_eq!(forgotten.code().as_str(), "E46");
        assert!(matches!(admit(&s, 21, Some(13)), Ok(Admission::Send(_))));
    }

    #[test]
    fn a_released_request_the_hubs_refuse_fails_its_dependants() {
        let s = Sequencer::new(SequencingLimits::default());
        admit(&s, 1, None).unwrap();
        admit(&s, 2, Some(1)).unwrap();
        admit(&s, 3, Some(2)).unwrap();
        let busy = Rejection::Busy(String::new()).code();
        let failures = s.finished_with(&id(1), true, &mut |_c: Command| Err(busy));
        assert_eq!(
            failures,
            vec![
                Failure {
                    request_ref: id(2).to_string(),
                    code: busy
                },
                Failure {
                    request_ref: id(3).to_string(),
                    code: predecessor_failed()
                },
            ]
        );
        assert_eq!(s.held(), 0);
    }
}
