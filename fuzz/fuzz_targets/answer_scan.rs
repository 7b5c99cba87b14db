//! loadgen's answer reader on arbitrary bytes (answers reach loadgen from the network): never
//! panics; whatever the full model reader reads as a DUIS response, the scanner reads too,
//! with the same fields; and where both read the bytes they agree. (The scanner may accept
//! a response the model refuses for a part of the body loadgen does not read.)
#![no_main]

use hubgate_loadgen::answer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fast = answer::scan(data);
    if let Some(full) = answer::model_fields(data) {
        match fast {
            Ok(fast) => assert_eq!(fast, full, "the scanner and the model reader disagree"),
            Err(e) => panic!("the model reader reads {full:?}; the scanner refuses: {e}"),
        }
    }
});
