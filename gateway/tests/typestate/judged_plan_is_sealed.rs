// Outside the owner module, the plan a policy judged cannot be swapped for another.
use datafusion::logical_expr::LogicalPlan;
use sluice_gateway::owner::Judged;

fn swap(mut judged: Judged, other: LogicalPlan) -> Judged {
    judged.plan = other;
    judged
}

fn main() {}
