// Outside the owner module, nobody can claim that a request was authenticated: the
// state is made only from a verified peer request or this gateway's own session.
use sluice_gateway::RequestContext;
use sluice_gateway::owner::{Authenticated, Recipient};

fn forge(ctx: RequestContext) -> Authenticated {
    Authenticated {
        ctx,
        roles: vec!["officer".into()],
        recipient: Recipient::Local,
    }
}

fn main() {}
