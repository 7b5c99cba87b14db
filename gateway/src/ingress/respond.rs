//! Building the DUIS responses the gateway sends, signed with the DSP XML-signing key.

use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::duis::model::header::{RequestId, ServiceReference, ServiceReferenceVariant};
use hubgate_protocol::duis::model::response::{
    Response, ResponseBody, ResponseCode, ResponseHeader, ResponseMessage, ResponsePayload,
};
use hubgate_protocol::duis::model::xsd::DateTime;
use hubgate_protocol::duis::{dsig, writer};
use hubgate_protocol::smki::Certificate;

use crate::clock::rfc3339_ms;

/// Signs responses as the DCC.
#[derive(Debug)]
pub struct Responder {
    key: SigningKey,
    cert: Certificate,
    hook: Option<std::sync::Arc<dyn AnswerHook>>,
}

/// Sees every answer before it is written, and may replace its payload: DSP schedules tag
/// the Service Responses of their executions with the schedule ID, and learn of Change of
/// Tenancy ([`crate::schedules`]).
pub trait AnswerHook: Send + Sync + std::fmt::Debug {
    /// The payload to write for `answer`; `None` keeps its own.
    fn payload(&self, answer: &Answer) -> Option<Option<ResponsePayload>>;
}

/// What a response says, before it is written and signed.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The request's ID, when it could be read.
    pub request_id: Option<RequestId>,
    /// Whether to also carry the ResponseID (device responses carry both).
    pub with_response_id: bool,
    /// The code.
    pub code: ResponseCode,
    /// Service Reference and Variant, when known.
    pub service: Option<(ServiceReference, ServiceReferenceVariant)>,
    /// The payload, if any.
    pub payload: Option<ResponsePayload>,
}

/// Why a response could not be produced (our fault, never the User's).
#[derive(Debug, thiserror::Error)]
pub enum RespondError {
    /// The XML-DSig signer failed.
    #[error("signing the response: {0}")]
    Sign(#[from] dsig::DsigError),
    /// A value did not fit the schema type.
    #[error("building the response: {0}")]
    Build(String),
}

impl Responder {
    /// A responder with the DSP XML-signing key and its certificate.
    pub fn new(key: SigningKey, cert: Certificate) -> Self {
        Responder {
            key,
            cert,
            hook: None,
        }
    }

    /// This responder, showing every answer to `hook` before writing it.
    pub fn with_hook(mut self, hook: std::sync::Arc<dyn AnswerHook>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// The signing certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The unsigned response model for an answer at `now_ms` (taken by value: its payload,
    /// an inventory page say, moves into the model instead of being copied).
    pub fn model(&self, answer: Answer, now_ms: i64) -> Result<Response, RespondError> {
        let date = DateTime::new(&rfc3339_ms(now_ms)).map_err(|e| RespondError::Build(e.0))?;
        let header = ResponseHeader {
            request_id: answer.request_id,
            response_id: if answer.with_response_id {
                answer.request_id.as_ref().map(RequestId::response_id)
            } else {
                None
            },
            response_code: answer.code,
            response_date_time: date,
        };
        // A response to a request that could not be read still needs a body: the schema
        // requires one. ServiceReference is then unknown; 8.2 is not used as a guess, so the
        // body is a ResponseMessage only when the service is known, else the request is
        // answered at HTTP level (see the server).
        let (service_reference, service_reference_variant) = answer.service.ok_or_else(|| {
            RespondError::Build("no Service Reference for the response body".into())
        })?;
        Ok(Response::new(
            header,
            ResponseBody::ResponseMessage(ResponseMessage {
                service_reference,
                service_reference_variant,
                payload: match self.hook.as_ref().and_then(|h| h.payload(&answer)) {
                    Some(p) => p,
                    None => answer.payload,
                },
            }),
        ))
    }

    /// The signed XML of an answer.
    pub fn signed(&self, answer: Answer, now_ms: i64) -> Result<Vec<u8>, RespondError> {
        self.sign_response(&self.model(answer, now_ms)?)
    }

    /// Signs a response model. Most responses are written straight in canonical form and
    /// digested as written ([`dsig::sign_canonical`]); those holding raw XML (a DSP payload,
    /// a SMETS1 message) go through the reader and the canonicaliser.
    pub fn sign_response(&self, response: &Response) -> Result<Vec<u8>, RespondError> {
        let (issuer, serial) = (self.cert.issuer(), self.cert.serial_decimal());
        match writer::write_response_canonical(response) {
            Some(xml) => Ok(dsig::sign_canonical(&xml, &self.key, issuer, serial)?),
            None => Ok(dsig::sign(
                response.to_xml().as_bytes(),
                &self.key,
                issuer,
                serial,
            )?),
        }
    }
}

/// A responder with the DCC Boxed DSP XML-signing key and certificate of the conformance
/// SMKI folder, for tests (which need the conformance corpus).
#[cfg(test)]
pub(crate) fn conformance_responder() -> Responder {
    let smki = hubgate_protocol::conformance::require().join("smki");
    let read = |name: &str| std::fs::read(smki.join(name)).unwrap();
    Responder::new(
        SigningKey::from_pem_or_der(&read("Z1-accessControlBroker-dSPXmlSign.key")).unwrap(),
        Certificate::from_pem(&read("Z1-accessControlBroker-dSPXmlSign.pem")).unwrap(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubgate_protocol::duis::model::response::ResponseCode;
    use hubgate_protocol::duis::xml::{self, Limits};
    use hubgate_protocol::smki::Store;

    fn digest_of(signed: &[u8]) -> String {
        let doc = xml::parse(signed, &Limits::default()).unwrap();
        let mut found = None;
        fn walk(e: &hubgate_protocol::duis::xml::Element, found: &mut Option<String>) {
            if e.local == "DigestValue" {
                *found = Some(e.text().to_string());
            }
            for c in e.child_elements() {
                walk(c, found);
            }
        }
        walk(&doc.root, &mut found);
        found.unwrap()
    }

    /// The canonical writer's bytes digest exactly as the reader-and-canonicaliser path
    /// does, and both signatures verify.
    #[test]
    fn canonical_writing_gives_the_same_digest_as_canonicalising() {
        let responder = conformance_responder();
        let mut store = Store::new();
        store
            .load_dir(&hubgate_protocol::conformance::require().join("smki"))
            .unwrap();
        let id = RequestId::parse("90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000").unwrap();
        let service = Some((
            ServiceReference::parse("4.1").unwrap(),
            ServiceReferenceVariant::parse("4.1.1").unwrap(),
        ));
        let sr = |name: &str| {
            hubgate_protocol::duis::xml::Element::new(
                Some("sr"),
                name,
                Some(hubgate_protocol::duis::NS_SR),
            )
        };
        // An inventory answer as the inventory services build it, with text that needs
        // escaping (written canonically), and two subtrees the canonical writer leaves to
        // the canonicaliser: a whitespace-only text and an attribute.
        let inventory = sr("DSPInventory").with_child(
            sr("Device")
                .with_child(sr("DeviceID").with_text("00-DB-12-34-56-78-90-A0"))
                .with_child(sr("DeviceModel").with_text("a&b <c> \"d\" 'e'\r\nf\tg"))
                .with_child(sr("PropertyFilter").with_child(sr("PostCode").with_text("AB1 2CD"))),
        );
        let blank = sr("DSPInventory").with_child(sr("Device").with_text("  \n "));
        let mut attributed = sr("DSPInventory");
        attributed.attrs.push(hubgate_protocol::duis::xml::Attr {
            prefix: None,
            local: "b".into(),
            ns: None,
            value: "1".into(),
        });
        let dsp = |xml: hubgate_protocol::duis::xml::Element| {
            Some(ResponsePayload::Dsp {
                element: xml.local.clone(),
                xml,
            })
        };
        let payloads = [
            (None, true),
            (
                Some(ResponsePayload::GbcsPayload(vec![
                    0xDD, 0x00, 0x3C, 0x0D, 0x26, 0x3E,
                ])),
                true,
            ),
            (dsp(inventory), true),
            (dsp(blank), false),
            (dsp(attributed), false),
        ];
        let mut checked = 0;
        for (code, with_id) in [(ResponseCode::I99, false), (ResponseCode::I0, true)] {
            for (payload, canonical) in &payloads {
                let answer = Answer {
                    request_id: Some(id),
                    with_response_id: with_id,
                    code,
                    service,
                    payload: payload.clone(),
                };
                let model = responder.model(answer, 1_700_000_000_123).unwrap();
                let fast = responder.sign_response(&model).unwrap();
                let slow = dsig::sign_with_certificate(
                    model.to_xml().as_bytes(),
                    &responder.key,
                    &responder.cert,
                )
                .unwrap();
                assert_eq!(
                    writer::write_response_canonical(&model).is_some(),
                    *canonical,
                    "{payload:?}"
                );
                assert_eq!(digest_of(&fast), digest_of(&slow), "{code:?} {payload:?}");
                dsig::verify(&fast, &store).unwrap();
                dsig::verify(&slow, &store).unwrap();
                checked += 1;
            }
        }
        assert_eq!(checked, 10);
    }
}
