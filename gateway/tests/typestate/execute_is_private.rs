// Outside the owner module, a judged query cannot be run: the only way to run a query
// is `Owner::fetch`, which records the access on the chain first.
use sluice_gateway::Owner;
use sluice_gateway::owner::Judged;

async fn run_unlogged(owner: &Owner, judged: Judged) {
    let _ = owner.execute(judged).await;
}

fn main() {}
