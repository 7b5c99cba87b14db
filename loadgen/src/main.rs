//! `loadgen`: open-loop DUIS load generator (not yet implemented; prints what it will do).

fn main() {
    eprintln!(
        "loadgen: not implemented yet; it will drive a HubGate gateway with signed DUIS traffic \
         (protocol core {})",
        hubgate_protocol::VERSION
    );
    std::process::exit(2);
}
