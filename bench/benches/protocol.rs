//! Criterion micro-benchmarks of the protocol core, one group per operation (see
//! `hubgate_bench::groups`): bare aws-lc-rs ECDSA P-256 verify and sign, GBCS parse,
//! signature and MAC verification, payload decoding, DUIS parse, XML-DSig verify and sign,
//! and the stages of XML-DSig verify.
//!
//! Every benchmark counts one element per iteration, so criterion's throughput column reads
//! as operations per second. Run with
//! `cargo bench -p hubgate-bench -- --warm-up-time 1 --measurement-time 3 [FILTER]`.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hubgate_bench::{Fixtures, operations};

fn protocol(c: &mut Criterion) {
    let fx = match Fixtures::load() {
        Ok(fx) => Arc::new(fx),
        Err(e) => panic!("benchmark set-up failed: {e}"),
    };
    let ops = match operations(&fx) {
        Ok(ops) => ops,
        Err(e) => panic!("benchmark set-up failed: {e}"),
    };

    let mut ops = ops.into_iter().peekable();
    while let Some(first) = ops.next() {
        let name = first.group;
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(1));
        let mut members = vec![first];
        while let Some(next) = ops.next_if(|o| o.group == name) {
            members.push(next);
        }
        for mut op in members {
            group.bench_function(op.case, |b| b.iter(&mut op.run));
        }
        group.finish();
    }
}

criterion_group!(benches, protocol);
criterion_main!(benches);
