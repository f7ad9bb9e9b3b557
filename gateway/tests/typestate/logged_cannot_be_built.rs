// Outside the owner module, a `Logged` query cannot be made up: its fields, the
// committed entry among them, are private.
use datafusion::logical_expr::LogicalPlan;
use sluice_gateway::owner::audit::Receipt;
use sluice_gateway::owner::{Logged, Planned};

fn forge(planned: Planned, plan: LogicalPlan, receipt: Receipt) -> Logged {
    Logged {
        ctx: planned.context().clone(),
        plan,
        datasets: planned.datasets().to_vec(),
        receipt,
    }
}

fn main() {}
