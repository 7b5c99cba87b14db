//! Critical commands as a User sends them: CV 4 (transform) returns the Pre-Command, the User
//! signs it with its GBCS digital-signature key, CV 5 sends the Signed Pre-Command under the
//! same RequestID.

use hubgate_protocol::crypto::SigningKey;
use hubgate_protocol::gbcs::auth;

use super::{Answer, Gateway, SUPPLIER, b64, element_text, unb64};

/// The CV 5 Request carrying `signed` (a Signed Pre-Command) under `request_id`, with the
/// ServiceReference and ServiceReferenceVariant of `original` (the CV 4 Request); unsigned
/// (sign it with [`Gateway::sign_with`] and no counter, so that the RequestID stays).
pub fn signed_precommand_request(original: &str, request_id: &str, signed: &[u8]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <sr:Request xmlns:sr=\"http://www.dccinterface.co.uk/ServiceUserGateway\" schemaVersion=\"5.4\">\
         <sr:Header><sr:RequestID>{request_id}</sr:RequestID><sr:CommandVariant>5</sr:CommandVariant>\
         <sr:ServiceReference>{}</sr:ServiceReference>\
         <sr:ServiceReferenceVariant>{}</sr:ServiceReferenceVariant></sr:Header>\
         <sr:Body><sr:SignedPreCommand><sr:GBCSPayload>{}</sr:GBCSPayload></sr:SignedPreCommand></sr:Body>\
         </sr:Request>",
        element_text(original, "ServiceReference").expect("a ServiceReference"),
        element_text(original, "ServiceReferenceVariant").expect("a ServiceReferenceVariant"),
        b64(signed)
    )
}

/// Sends `request` (a critical command's CV 4 Request) as the supplier with the supplier's
/// GBCS key (`smki/Z1-supplier-ds.key`): see [`send_critical`].
pub fn send_as_supplier(gw: &Gateway, request: &str) -> (Answer, String) {
    send_critical(gw, request, SUPPLIER, "Z1-supplier-ds.key")
}

/// Sends `request` (a critical command's CV 4 Request) as `signer`, asserts the Pre-Command
/// came back (`I0`), signs it with the GBCS key `smki/<key_file>` and posts it as CV 5. The
/// CV 5 acknowledgement and the RequestID.
pub fn send_critical(
    gw: &Gateway,
    request: &str,
    signer: &str,
    key_file: &str,
) -> (Answer, String) {
    let pre = gw.submit(request, signer);
    assert_eq!(pre.code, "I0", "{}", pre.xml);
    let precommand = unb64(&element_text(&pre.xml, "GBCSPayload").expect("a GBCSPayload"));
    let key = SigningKey::from_pem_or_der(
        &std::fs::read(gw.root.join("smki").join(key_file)).expect("the User's GBCS key"),
    )
    .expect("a signing key");
    let signed = auth::sign_precommand(&precommand, &key).expect("a signed Pre-Command");
    let send = signed_precommand_request(request, &pre.request_id, &signed);
    let body = gw.sign_with(&send, signer, None);
    let (http, text) = gw.post("/api/v1/serviceS", &body);
    (Answer::parse(http, &text), pre.request_id)
}
