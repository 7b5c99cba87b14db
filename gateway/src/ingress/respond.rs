//! Building the DUIS responses the gateway sends, signed with the DSP XML-signing key.

use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::duis::dsig;
use hubgate_protocol::duis::model::header::{RequestId, ServiceReference, ServiceReferenceVariant};
use hubgate_protocol::duis::model::response::{
    Response, ResponseBody, ResponseCode, ResponseHeader, ResponseMessage, ResponsePayload,
};
use hubgate_protocol::duis::model::xsd::DateTime;
use hubgate_protocol::smki::Certificate;

use crate::clock::rfc3339_ms;

/// Signs responses as the DCC.
#[derive(Debug)]
pub struct Responder {
    key: SigningKey,
    cert: Certificate,
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
        Responder { key, cert }
    }

    /// The signing certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The unsigned response model for an answer at `now_ms`.
    pub fn model(&self, answer: &Answer, now_ms: i64) -> Result<Response, RespondError> {
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
                payload: answer.payload.clone(),
            }),
        ))
    }

    /// The signed XML of an answer.
    pub fn signed(&self, answer: &Answer, now_ms: i64) -> Result<Vec<u8>, RespondError> {
        let xml = self.model(answer, now_ms)?.to_xml();
        Ok(dsig::sign_with_certificate(
            xml.as_bytes(),
            &self.key,
            &self.cert,
        )?)
    }
}
